import { Inject, Injectable } from '@nestjs/common';
import { findTextProblem, textProblem } from '../common/index.js';
import { TollgateConfig, type MeterDefinition, type TierCatalog } from '../config/index.js';
import { billingAnchor, type CustomerEntity, endedPeriod } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { TiersService } from '../tiers/index.js';
import { type BillingPeriod, eventPeriod } from './billing-period.js';
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
const DATE_TIME_START = /^\d{4}-\d{2}-\d{2}T/;

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
 * The first field of an event that is not one of the six documented, or undefined. A switch, not a lookup:
 * `Object.keys` holds own keys only, so a `__proto__` key sent in the JSON is unknown like any other.
 */
function unknownField(raw: object): string | undefined {
  for (const key of Object.keys(raw)) {
    switch (key) {
      case 'customerId':
      case 'meter':
      case 'quantity':
      case 'timestamp':
      case 'idempotencyKey':
      case 'properties':
        continue;
      default:
        return key;
    }
  }
  return undefined;
}

const EVENT_FIELDS = ['customerId', 'meter', 'quantity', 'timestamp', 'idempotencyKey', 'properties'] as const;

/**
 * Cheap test that none of an event's values holds text the ledger cannot store; only when one does is the
 * walk that names the field run (eventTextProblem), so the reason is the same as it always was.
 */
function mayHaveTextProblem(raw: IncomingEvent): boolean {
  for (const field of EVENT_FIELDS) {
    const value = raw[field];
    if (typeof value === 'string') {
      if ((field !== 'idempotencyKey' && value.length > MAX_FIELD_LENGTH) || textProblem(value)) return true;
    } else if (typeof value === 'object' && value !== null && findTextProblem(value)) {
      return true;
    }
  }
  return false;
}

/**
 * The event schema, compiled once per catalog and limits (the checks run per event, up to 1000 per call):
 * the meters by name and the messages that do not depend on the event.
 */
interface EventSchema {
  catalog: TierCatalog;
  meters: Map<string, MeterDefinition>;
  knownMeters: string;
  maxQuantity: number;
  lateEventGraceMs: number;
}

function compileSchema(catalog: TierCatalog, config: TollgateConfig): EventSchema {
  return {
    catalog,
    meters: new Map(catalog.meters.map((meter) => [meter.name, meter])),
    knownMeters: catalog.meters.map((meter) => meter.name).join(', '),
    maxQuantity: config.maxEventQuantity,
    lateEventGraceMs: config.lateEventGraceMs,
  };
}

/** The period of one customer's events that carry no timestamp (they happen "now"), worked out once per call. */
interface NowPeriod {
  period: BillingPeriod;
  closed: string | null;
}

/**
 * The ingest API's logic: validates each event on its own (a bad event is rejected with a reason, the rest
 * go in), resolves its customer and period, and hands it to the group-commit ingestor.
 */
@Injectable()
export class EventsService {
  private schema: EventSchema;

  constructor(
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {
    this.schema = compileSchema(tiers.catalog, config);
  }

  /** `ownCustomerId` set: the caller is a key holder and may only report its own usage. */
  async ingest(events: IncomingEvent[], ownCustomerId: string | null, now = new Date()): Promise<EventResult[]> {
    if (this.schema.catalog !== this.tiers.catalog || this.schema.maxQuantity !== this.config.maxEventQuantity || this.schema.lateEventGraceMs !== this.config.lateEventGraceMs) {
      this.schema = compileSchema(this.tiers.catalog, this.config);
    }
    const customers = await this.lookUpCustomers(events, ownCustomerId);

    const results: EventResult[] = new Array<EventResult>(events.length);
    const accepted: LedgerEvent[] = [];
    const acceptedAt: number[] = [];
    const nowPeriods = new Map<CustomerEntity, NowPeriod>();
    for (let index = 0; index < events.length; index++) {
      const raw = events[index];
      const prepared = this.prepare(raw, ownCustomerId, customers, now, nowPeriods);
      if (typeof prepared === 'string') {
        const idempotencyKey = typeof raw?.idempotencyKey === 'string' ? raw.idempotencyKey : null;
        results[index] = { index, idempotencyKey, status: 'rejected', reason: prepared };
      } else {
        accepted.push(prepared);
        acceptedAt.push(index);
      }
    }

    const outcomes = accepted.length > 0 ? await this.ingestor.recordMany(accepted) : [];
    for (let i = 0; i < accepted.length; i++) {
      const outcome = outcomes[i];
      const index = acceptedAt[i];
      const idempotencyKey = (events[index] as { idempotencyKey: string }).idempotencyKey;
      results[index] =
        outcome instanceof UsageRejectedError
          ? { index, idempotencyKey, status: 'rejected', reason: `${outcome.reason}: ${outcome.message}` }
          : { index, idempotencyKey, status: outcome === 'duplicate' ? 'duplicate' : 'accepted' };
    }
    return results;
  }

  /** Every customer the events name (a batch usually names one), each looked up once. */
  private async lookUpCustomers(events: IncomingEvent[], ownCustomerId: string | null): Promise<Map<string, CustomerEntity>> {
    const ids = new Set<string>();
    for (const event of events) {
      const id = event?.customerId ?? ownCustomerId;
      // Ids no customer can have are not looked up: they are rejected with their event below.
      if (typeof id === 'string' && id.length <= MAX_FIELD_LENGTH && !ids.has(id) && !textProblem(id)) ids.add(id);
    }
    const customers = new Map<string, CustomerEntity>();
    if (ids.size === 1) {
      const [id] = ids;
      const customer = await this.customers.findCached(id);
      if (customer) customers.set(id, customer);
      return customers;
    }
    await Promise.all(
      [...ids].map(async (id) => {
        const customer = await this.customers.findCached(id);
        if (customer) customers.set(id, customer);
      }),
    );
    return customers;
  }

  /** A ledger event, or the reason it is refused. The checks run in this order: the first failing one is the reason. */
  private prepare(
    raw: IncomingEvent,
    ownCustomerId: string | null,
    customers: Map<string, CustomerEntity>,
    now: Date,
    nowPeriods: Map<CustomerEntity, NowPeriod>,
  ): LedgerEvent | string {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'event must be an object';
    const unknown = unknownField(raw);
    if (unknown !== undefined) return `unknown field "${unknown}"`;
    if (mayHaveTextProblem(raw)) {
      const badText = eventTextProblem(raw);
      if (badText) return badText;
    }
    const customerId = raw.customerId ?? ownCustomerId;
    if (typeof customerId !== 'string' || customerId.length === 0) return 'customerId is required';
    if (ownCustomerId && customerId !== ownCustomerId) return 'a key may only report usage for its own customer';
    const customer = customers.get(customerId);
    if (!customer) return `unknown customer "${customerId}"`;
    const key = raw.idempotencyKey;
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) return 'idempotencyKey is required: 1-255 visible ASCII characters';
    const schema = this.schema;
    const meterName = raw.meter ?? 'api_calls';
    const meter = typeof meterName === 'string' ? schema.meters.get(meterName) : undefined;
    if (!meter) return `unknown meter "${String(meterName)}" (known: ${schema.knownMeters})`;
    let quantity = 1;
    const rawQuantity = raw.quantity;
    if (rawQuantity !== undefined) {
      if (typeof rawQuantity !== 'number' || !Number.isInteger(rawQuantity) || rawQuantity < 0) return 'quantity must be a whole number ≥ 0';
      // Checked here, per event, so a huge quantity never reaches a batch shared with other customers' events.
      if (rawQuantity > schema.maxQuantity) {
        return `quantity_limit: quantity must be at most ${schema.maxQuantity} (TOLLGATE_MAX_EVENT_QUANTITY), got ${rawQuantity}`;
      }
      quantity = rawQuantity;
    }
    if (meter.aggregation === 'count') quantity = 1;
    let occurredAt = now;
    let period: BillingPeriod;
    if (raw.timestamp !== undefined) {
      const parsed = typeof raw.timestamp === 'string' && DATE_TIME_START.test(raw.timestamp) ? new Date(raw.timestamp) : null;
      if (!parsed || Number.isNaN(parsed.getTime())) return 'timestamp must be an ISO-8601 date-time';
      occurredAt = parsed;
      if (occurredAt.getTime() > now.getTime() + FUTURE_TOLERANCE_MS) return 'timestamp is more than 5 minutes in the future';
      period = eventPeriod(occurredAt, billingAnchor(customer), endedPeriod(customer));
      const closed = this.closedReason(period, now);
      if (closed) return closed;
    } else {
      // Events without a timestamp all happen now: one period (and one verdict) per customer and call.
      let known = nowPeriods.get(customer);
      if (!known) {
        const nowPeriod = eventPeriod(now, billingAnchor(customer), endedPeriod(customer));
        known = { period: nowPeriod, closed: this.closedReason(nowPeriod, now) };
        nowPeriods.set(customer, known);
      }
      if (known.closed) return known.closed;
      period = known.period;
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
      idempotencyKey: `evt:${key}`,
      occurredAt,
      periodStart: period.start,
      periodEnd: period.end,
      properties,
    };
  }

  /** The reason an event of `period` is refused because the period closed, or null while it is open. */
  private closedReason(period: BillingPeriod, now: Date): string | null {
    const grace = this.schema.lateEventGraceMs;
    if (period.end.getTime() + grace > now.getTime()) return null;
    return `period_closed: the period ${period.start.toISOString()} – ${period.end.toISOString()} closed (late-event grace ${grace / 60_000} min, TOLLGATE_LATE_EVENT_GRACE_MS); late events are not moved to another period`;
  }
}
