import { randomUUID } from 'node:crypto';
import { type CallHandler, type ExecutionContext, Inject, Injectable, Logger, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { catchError, mergeMap, type Observable, throwError } from 'rxjs';
import { consumerOf } from '../api-keys/index.js';
import { TollgateConfig } from '../config/index.js';
import { TiersService } from '../tiers/index.js';
import { applyErrorHeaders, InvalidCostException, UsageLimitReachedException, UsageNotRecordedException } from '../common/index.js';
import { type MeteringTicket, requestEventKey, ticketOf } from './metering.request.js';
import { QuotaService } from './quota.service.js';
import { secondsUntil, setQuotaHeaders } from './quota.headers.js';
import { type IngestStatus, UsageIngestor, UsageRejectedError, UsageUnavailableError } from './usage-ingestor.js';
import { usageUnavailable } from './usage-unavailable.js';

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

  /**
   * The event of a served request was refused on its own. With sane costs this does not happen (the guards
   * refuse first); if it does, the response is not given away unrecorded: the caller gets why, never a 500
   * for its own doing.
   */
  private refusal(error: unknown, ticket: MeteringTicket, response: Response): unknown {
    if (error instanceof UsageUnavailableError) return usageUnavailable(error, response);
    if (!(error instanceof UsageRejectedError)) return error;
    if (error.reason === 'counter_limit') {
      const exception = new UsageLimitReachedException(`This request cannot be recorded: ${error.message}.`, { meter: ticket.meter, retryAfter: secondsUntil(ticket.period.end) });
      applyErrorHeaders(exception, response);
      return exception;
    }
    if (error.reason === 'quantity_limit') {
      return new InvalidCostException(`This request cannot be recorded: ${error.message}.`);
    }
    this.logger.error(`usage event refused for a served request: ${error.message}`);
    return new UsageNotRecordedException();
  }

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
          // A repeat of a request already recorded: its event is in the ledger, this one costs nothing.
          if (ticket.duplicate === 'recorded' || !this.config.meteredStatus(response.statusCode)) return body;
          const aggregation = this.tiers.catalog.meters.find((meter) => meter.name === ticket.meter)?.aggregation ?? 'sum';
          const now = new Date();
          const eventKey = ticket.idempotencyKey ? requestEventKey(ticket.idempotencyKey) : null;
          const recording = this.ingestor.record({
            customerId: consumer.customerId,
            meter: ticket.meter,
            quantity: aggregation === 'count' ? 1 : ticket.cost,
            idempotencyKey: eventKey ?? `req:${randomUUID()}`,
            occurredAt: now,
            periodStart: ticket.period.start,
            periodEnd: ticket.period.end,
            properties: { method: request.method, path: request.path },
          });
          if (this.config.meteringMode === 'async') {
            recording.then(
              () => eventKey && this.quotas.noteRecorded(consumer.customerId, eventKey),
              (error: Error) => this.logger.error(`usage event lost for ${consumer.customerId}: ${error.message}`),
            );
            return body;
          }
          let status: IngestStatus;
          try {
            status = await recording;
          } catch (error) {
            throw this.refusal(error, ticket, response);
          }
          if (eventKey) this.quotas.noteRecorded(consumer.customerId, eventKey);
          if (status === 'spooled') this.quotas.noteSpooled(consumer.customerId, ticket.meter, ticket.period.start, ticket.cost);
          // A duplicate keeps the committed state the guard showed; a new event shows its own cost counted.
          if (status !== 'duplicate') setQuotaHeaders(response, ticket.included, ticket.usedBefore + BigInt(ticket.cost), ticket.period.end, now.getTime());
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
