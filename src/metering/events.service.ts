import { Inject, Injectable } from '@nestjs/common';
import { findTextProblem, textProblem } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { billingAnchor, type CustomerEntity, endedPeriod } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { TiersService } from '../tiers/index.js';
import { eventPeriod } from './billing-period.js';
import { UsageIngestor, UsageRejectedError } from './usage-ingestor.js';
import { IDEMPOTENCY_KEY } from './metering.request.js';
import type { LedgerEvent } from './usage-ledger.js';

export interface IncomingEvent {
  customerId?: unknown;
  meter?: unknown;
  quantity?: unknown;
  timestamp?: unknown;
  idempotencyKey?: unknown;
  properties?: unknown;
}

export interface EventResult {
  index: number;
  idempotencyKey: string | null;
  status: 'accepted' | 'duplicate' | 'rejected';
  reason?: string;
}

/** Clocks differ: a timestamp this far ahead is still "now" (Stripe allows 5 minutes). */
const FUTURE_TOLERANCE_MS = 5 * 60_000;
const MAX_PROPERTIES_BYTES = 4096;
/** Longest customer id, meter name or timestamp an event may carry (ids are ~20 characters). */
const MAX_FIELD_LENGTH = 255;

/** Why an event's strings cannot go into the ledger (too long to be an id, or not storable text), else null. */
function eventTextProblem(raw: IncomingEvent): string | null {
  for (const field of ['customerId', 'meter', 'timestamp'] as const) {
    const value = raw[field];
    if (typeof value === 'string' && value.length > MAX_FIELD_LENGTH) return `${field} must be at most ${MAX_FIELD_LENGTH} characters`;
  }
  const found = findTextProblem(raw);
  return found ? `${found.field} ${found.problem}` : null;
}

/**
 * The ingest API's logic: validates each event on its own (a bad event is rejected with a reason, the rest
 * go in), resolves its customer and period, and hands it to the group-commit ingestor.
 */
@Injectable()
export class EventsService {
  constructor(
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  /** `ownCustomerId` set: the caller is a key holder and may only report its own usage. */
  async ingest(events: IncomingEvent[], ownCustomerId: string | null, now = new Date()): Promise<EventResult[]> {
    const customerIds = new Set<string>();
    for (const event of events) {
      const id = event.customerId ?? ownCustomerId;
      // Ids no customer can have are not looked up: they are rejected with their event below.
      if (typeof id === 'string' && id.length <= MAX_FIELD_LENGTH && !textProblem(id)) customerIds.add(id);
    }
    const customers = new Map<string, CustomerEntity>();
    await Promise.all(
      [...customerIds].map(async (id) => {
        const customer = await this.customers.findCached(id);
        if (customer) customers.set(id, customer);
      }),
    );

    const results: EventResult[] = [];
    const accepted: Array<{ index: number; event: LedgerEvent }> = [];
    events.forEach((raw, index) => {
      const idempotencyKey = typeof raw.idempotencyKey === 'string' ? raw.idempotencyKey : null;
      const reject = (reason: string) => results.push({ index, idempotencyKey, status: 'rejected', reason });
      const prepared = this.prepare(raw, ownCustomerId, customers, now);
      if (typeof prepared === 'string') return reject(prepared);
      accepted.push({ index, event: prepared });
    });

    const outcomes = await this.ingestor.recordMany(accepted.map((entry) => entry.event));
    accepted.forEach((entry, i) => {
      const outcome = outcomes[i];
      const idempotencyKey = entry.event.idempotencyKey.slice(4);
      if (outcome instanceof UsageRejectedError) {
        results.push({ index: entry.index, idempotencyKey, status: 'rejected', reason: `${outcome.reason}: ${outcome.message}` });
      } else {
        results.push({ index: entry.index, idempotencyKey, status: outcome === 'duplicate' ? 'duplicate' : 'accepted' });
      }
    });
    return results.sort((a, b) => a.index - b.index);
  }

  /** A ledger event, or the reason it is refused. */
  private prepare(raw: IncomingEvent, ownCustomerId: string | null, customers: Map<string, CustomerEntity>, now: Date): LedgerEvent | string {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'event must be an object';
    const unknownField = Object.keys(raw).find((key) => !['customerId', 'meter', 'quantity', 'timestamp', 'idempotencyKey', 'properties'].includes(key));
    if (unknownField) return `unknown field "${unknownField}"`;
    const badText = eventTextProblem(raw);
    if (badText) return badText;
    const customerId = raw.customerId ?? ownCustomerId;
    if (typeof customerId !== 'string' || customerId.length === 0) return 'customerId is required';
    if (ownCustomerId && customerId !== ownCustomerId) return 'a key may only report usage for its own customer';
    const customer = customers.get(customerId);
    if (!customer) return `unknown customer "${customerId}"`;
    if (typeof raw.idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(raw.idempotencyKey)) {
      return 'idempotencyKey is required: 1-255 visible ASCII characters';
    }
    const meterName = raw.meter ?? 'api_calls';
    const meter = this.tiers.catalog.meters.find((candidate) => candidate.name === meterName);
    if (!meter) return `unknown meter "${String(meterName)}" (known: ${this.tiers.catalog.meters.map((m) => m.name).join(', ')})`;
    let quantity = 1;
    if (raw.quantity !== undefined) {
      if (typeof raw.quantity !== 'number' || !Number.isInteger(raw.quantity) || raw.quantity < 0) {
        return 'quantity must be a whole number ≥ 0';
      }
      // Checked here, per event, so a huge quantity never reaches a batch shared with other customers' events.
      if (raw.quantity > this.config.maxEventQuantity) {
        return `quantity_limit: quantity must be at most ${this.config.maxEventQuantity} (TOLLGATE_MAX_EVENT_QUANTITY), got ${raw.quantity}`;
      }
      quantity = raw.quantity;
    }
    if (meter.aggregation === 'count') quantity = 1;
    let occurredAt = now;
    if (raw.timestamp !== undefined) {
      const parsed = typeof raw.timestamp === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(raw.timestamp) ? new Date(raw.timestamp) : null;
      if (!parsed || Number.isNaN(parsed.getTime())) return 'timestamp must be an ISO-8601 date-time';
      occurredAt = parsed;
    }
    if (occurredAt.getTime() > now.getTime() + FUTURE_TOLERANCE_MS) return 'timestamp is more than 5 minutes in the future';
    const period = eventPeriod(occurredAt, billingAnchor(customer), endedPeriod(customer));
    if (period.end.getTime() + this.config.lateEventGraceMs <= now.getTime()) {
      return `period_closed: the period ${period.start.toISOString()} – ${period.end.toISOString()} closed (late-event grace ${this.config.lateEventGraceMs / 60_000} min, TOLLGATE_LATE_EVENT_GRACE_MS); late events are not moved to another period`;
    }
    let properties: Record<string, unknown> | null = null;
    if (raw.properties !== undefined && raw.properties !== null) {
      if (typeof raw.properties !== 'object' || Array.isArray(raw.properties)) return 'properties must be an object';
      if (JSON.stringify(raw.properties).length > MAX_PROPERTIES_BYTES) return `properties must be at most ${MAX_PROPERTIES_BYTES} bytes of JSON`;
      properties = raw.properties as Record<string, unknown>;
    }
    return {
      customerId,
      meter: meter.name,
      quantity,
      // Namespaced apart from the keys the interceptor makes (`idem:` / `req:`), so the two sources never collide.
      idempotencyKey: `evt:${raw.idempotencyKey}`,
      occurredAt,
      periodStart: period.start,
      periodEnd: period.end,
      properties,
    };
  }
}
