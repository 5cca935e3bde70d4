import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Consumer } from '../api-keys/index.js';
import { applyErrorHeaders, type HeaderSink, InvalidCostException, UsageLimitReachedException, UsageNotRecordedException } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { TiersService } from '../tiers/index.js';
import { type MeteringTicket, requestEventKey } from './metering.request.js';
import { secondsUntil, setQuotaHeaders } from './quota.headers.js';
import { QuotaService } from './quota.service.js';
import { type IngestStatus, UsageIngestor, UsageRejectedError, UsageUnavailableError } from './usage-ingestor.js';
import { usageUnavailable } from './usage-unavailable.js';

type ResponseHeaders = HeaderSink & { headersSent?: boolean };

const NOTHING_TO_RECORD = Promise.resolve();

/**
 * The durable usage event of one admitted request, for both doors (MeteringInterceptor and the verify API). By
 * default it resolves once the event is durable (group commit, or the local spool when the database is down); in
 * `async` mode at once. A retry carrying the same idempotency key counts once. It does not end the ticket's
 * reservation: the caller releases it, recorded or not.
 */
@Injectable()
export class UsageRecorder {
  private readonly logger = new Logger('Metering');

  constructor(
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(QuotaService) private readonly quotas: QuotaService,
  ) {}

  record(headers: ResponseHeaders, consumer: Consumer, ticket: MeteringTicket, request: { method: string; path: string }): Promise<void> {
    // A repeat of a request already recorded: its event is in the ledger, this one costs nothing.
    if (ticket.duplicate === 'recorded') return NOTHING_TO_RECORD;
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
      return NOTHING_TO_RECORD;
    }
    // A promise chain, not an async function: this runs on every metered request (one promise fewer).
    return recording.then(
      (status: IngestStatus) => {
        if (eventKey) this.quotas.noteRecorded(consumer.customerId, eventKey);
        if (status === 'spooled') this.quotas.noteSpooled(consumer.customerId, ticket.meter, ticket.period.start, ticket.cost);
        // A duplicate keeps the committed state the guard showed; a new event shows its own cost counted.
        if (status !== 'duplicate') setQuotaHeaders(headers, ticket.included, ticket.usedBefore + BigInt(ticket.cost), ticket.period.end, now.getTime());
      },
      (error: unknown) => {
        throw this.refusal(error, ticket, headers);
      },
    );
  }

  /**
   * The event of an admitted request was refused on its own. With sane costs this does not happen (the quota
   * refuses first); if it does, the request is not given away unrecorded: the caller gets why, never a 500 for
   * its own doing.
   */
  private refusal(error: unknown, ticket: MeteringTicket, headers: ResponseHeaders): unknown {
    if (error instanceof UsageUnavailableError) return usageUnavailable(error, headers);
    if (!(error instanceof UsageRejectedError)) return error;
    if (error.reason === 'counter_limit') {
      const exception = new UsageLimitReachedException(`This request cannot be recorded: ${error.message}.`, { meter: ticket.meter, retryAfter: secondsUntil(ticket.period.end) });
      applyErrorHeaders(exception, headers);
      return exception;
    }
    if (error.reason === 'quantity_limit') {
      return new InvalidCostException(`This request cannot be recorded: ${error.message}.`);
    }
    this.logger.error(`usage event refused for a served request: ${error.message}`);
    return new UsageNotRecordedException();
  }
}
