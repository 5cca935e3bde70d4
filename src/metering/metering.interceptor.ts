import { randomUUID } from 'node:crypto';
import { type CallHandler, type ExecutionContext, Inject, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { catchError, mergeMap, type Observable, throwError } from 'rxjs';
import { consumerOf } from '../api-keys/consumer.js';
import { TollgateConfig } from '../config/tollgate-config.js';
import { TiersService } from '../tiers/tiers.service.js';
import { ticketOf } from './metering.request.js';
import { QuotaService } from './quota.service.js';
import { setQuotaHeaders } from './quota.headers.js';
import { UsageIngestor } from './usage-ingestor.js';

/**
 * Records one usage event per successful metered response. By default the response waits until the event
 * is durable (group commit, or the local spool when the database is down); in `async` mode it does not.
 * A retry carrying the same Idempotency-Key counts once.
 */
@Injectable()
export class MeteringInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Metering');

  constructor(
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(QuotaService) private readonly quotas: QuotaService,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<Request>();
    const ticket = ticketOf(request);
    const consumer = consumerOf(request);
    // No ticket: the quota guard did not run (no consumer, or guards not applied), so nothing is metered.
    if (!ticket || !consumer) return next.handle();
    const response = context.switchToHttp().getResponse<Response>();
    return next.handle().pipe(
      mergeMap(async (body: unknown) => {
        try {
          if (!this.config.meteredStatus(response.statusCode)) return body;
          const aggregation = this.tiers.catalog.meters.find((meter) => meter.name === ticket.meter)?.aggregation ?? 'sum';
          const now = new Date();
          const recording = this.ingestor.record({
            customerId: consumer.customerId,
            meter: ticket.meter,
            quantity: aggregation === 'count' ? 1 : ticket.cost,
            idempotencyKey: ticket.idempotencyKey ? `idem:${ticket.idempotencyKey}` : `req:${randomUUID()}`,
            occurredAt: now,
            periodStart: ticket.period.start,
            periodEnd: ticket.period.end,
            properties: { method: request.method, path: request.path },
          });
          if (this.config.meteringMode === 'async') {
            recording.catch((error: Error) => this.logger.error(`usage event lost for ${consumer.customerId}: ${error.message}`));
          } else {
            const status = await recording;
            if (status === 'spooled') this.quotas.noteSpooled(consumer.customerId, ticket.meter, ticket.period.start, ticket.cost);
            if (status !== 'duplicate') setQuotaHeaders(response, ticket.included, ticket.usedBefore + ticket.cost, ticket.period.end, now.getTime());
          }
          return body;
        } finally {
          ticket.release();
        }
      }),
      catchError((error: unknown) => {
        ticket.release();
        return throwError(() => error);
      }),
    );
  }
}
