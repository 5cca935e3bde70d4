import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { Consumer } from '../api-keys/index.js';
import { isDatabaseUnavailable } from '../common/index.js';
import { KeyedSerializer } from '../common/index.js';
import { jsonQuantity } from '../common/index.js';
import { CUSTOM, DEFAULT_METER, type QuotaPolicy } from '../config/index.js';
import { TollgateConfig } from '../config/index.js';
import { CustomersService } from '../customers/index.js';
import { TiersService } from '../tiers/index.js';
import { type BillingPeriod, periodContaining } from './billing-period.js';
import { UsageIngestor } from './usage-ingestor.js';
import { counterKey, type CounterTotal, eventIdentity, UsageLedger } from './usage-ledger.js';
import {
  QUOTA_EXCEEDED,
  USAGE_RECORDED,
  USAGE_THRESHOLD_CROSSED,
  type UsageRecordedEvent,
  type UsageThresholdCrossedEvent,
} from './usage.events.js';

/** Counters other instances moved are seen within this long; this instance's own commits at once. */
const TOTAL_TTL_MS = 2_000;
/** Idempotency keys of requests recorded here lately: a client's retry is recognised without a database read. */
const RECENTLY_RECORDED_MAX = 10_000;

export interface QuotaState {
  meter: string;
  period: BillingPeriod;
  /** Included quantity this period; null = the tier sets no quota for this meter. */
  included: number | null;
  /** Committed total plus what requests in flight on this instance have reserved (a duplicate: committed only). */
  used: bigint;
  policy: QuotaPolicy;
}

/** What `admit` decided for one request. */
export interface Admission {
  state: QuotaState;
  /** Past the included quantity with this request (throttle / overage apply). */
  over: boolean;
  /** Why it is refused: the `block` quota, or the counter's cap (TOLLGATE_MAX_COUNTER_TOTAL). */
  refused: 'quota' | 'counter_limit' | null;
  /**
   * The request repeats one already recorded ('recorded': nothing to record, nothing to charge) or one still in
   * flight ('in_flight': it shares that request's reservation; the ledger counts the event once).
   */
  duplicate: 'recorded' | 'in_flight' | null;
  /** Ends the request's reservation (call once, recorded or abandoned); a no-op when nothing was reserved. */
  release: () => void;
}

interface QuotaTerms {
  included: number | null;
  policy: QuotaPolicy;
  thresholds: number[];
}

const nothingReserved = () => {};

/** What one admission decides on (and whether it already looked its event up in the ledger). */
interface Decision {
  consumer: Consumer;
  meter: string;
  cost: number;
  eventKey: string | null;
  period: BillingPeriod;
  key: string;
  lookedUp: boolean;
}

/** A repeat of a request recorded or in flight: shown the committed state, reserving nothing. */
const repeatOf = (committed: QuotaState, duplicate: 'recorded' | 'in_flight'): Admission => ({
  state: committed,
  over: false,
  refused: null,
  duplicate,
  release: nothingReserved,
});

/**
 * Knows how much of its quota a customer has used: a short-lived in-process copy of the counters (updated
 * by every local commit), plus reservations for requests in flight so concurrent requests cannot all slip
 * into the last unit on one instance. Also turns counter moves into `usage.*` / `quota.exceeded` events.
 */
@Injectable()
export class QuotaService implements OnModuleInit {
  private readonly logger = new Logger('Quota');
  private readonly totals = new Map<string, { total: bigint; fetchedAt: number }>();
  private readonly reserved = new Map<string, bigint>();
  private readonly spooled = new Map<string, bigint>();
  /** Ledger identities (customer, event key) of keyed requests in flight here, and of those recorded lately. */
  private readonly inFlight = new Map<string, number>();
  private readonly recentlyRecorded = new Set<string>();
  private readonly alertsInOrder = new KeyedSerializer();

  constructor(
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  onModuleInit(): void {
    this.ingestor.onCounters((counters) => this.onCounters(counters));
    this.ingestor.onTotalsElsewhere((counters) => this.onTotalsElsewhere(counters));
  }

  termsFor(consumer: Pick<Consumer, 'tier' | 'limits'>, meter: string): QuotaTerms {
    const thresholds = consumer.tier.alertThresholds;
    if (meter === DEFAULT_METER) return { included: consumer.limits.includedCalls, policy: consumer.limits.onQuotaExceeded, thresholds };
    const terms = consumer.tier.meters[meter];
    if (!terms || terms.included === CUSTOM) return { included: null, policy: 'overage', thresholds };
    return { included: terms.included, policy: consumer.limits.onQuotaExceeded, thresholds };
  }

  async state(consumer: Consumer, meter: string, at = new Date()): Promise<QuotaState> {
    const period = periodContaining(at, consumer.billingPeriod);
    const key = counterKey(consumer.customerId, meter, period.start);
    const terms = this.termsFor(consumer, meter);
    const total = await this.total(key, consumer.customerId, meter, period.start);
    return { meter, period, included: terms.included, used: total + (this.reserved.get(key) ?? 0n), policy: terms.policy };
  }

  /**
   * The state and, unless the request is refused or repeats another, a reservation of its cost — decided in ONE
   * synchronous step once the total is known. (Reading `used` with `state()` and reserving afterwards leaves an
   * await between the two: requests resuming together all saw the same `used` and all passed a block quota.)
   *
   * `eventKey` is the ledger key a keyed request's event will have: a retry of a request already recorded (or
   * still in flight) is admitted as what it is, a repeat, even when the quota is used up, reserves nothing, and
   * is shown the committed state. Recognised from memory (this instance's requests); only a request about to be
   * refused or slowed costs one index lookup, so requests without a key never wait for the database.
   */
  async admit(consumer: Consumer, meter: string, cost: number, eventKey: string | null = null, at = new Date()): Promise<Admission> {
    return this.admitNow(consumer, meter, cost, eventKey, at);
  }

  /**
   * As `admit`, but answered synchronously when the cached total is fresh and no ledger lookup is needed (most
   * requests): the quota guard then decides without a promise.
   */
  admitNow(consumer: Consumer, meter: string, cost: number, eventKey: string | null = null, at = new Date()): Admission | Promise<Admission> {
    const period = periodContaining(at, consumer.billingPeriod);
    const key = counterKey(consumer.customerId, meter, period.start);
    const fresh = this.freshTotal(key);
    const decision: Decision = { consumer, meter, cost, eventKey, period, key, lookedUp: false };
    if (fresh !== undefined) return this.decide(decision, fresh);
    return this.total(key, consumer.customerId, meter, period.start).then((total) => this.decide(decision, total));
  }

  /** The decision once the total is known. No await from here to the reservation (an await in between would let
   * requests resuming together all see the same `used`). */
  private decide(decision: Decision, total: bigint): Admission | Promise<Admission> {
    const { consumer, meter, cost, eventKey, period, key } = decision;
    const { customerId } = consumer;
    const terms = this.termsFor(consumer, meter);
    const identity = eventKey === null ? null : eventIdentity(customerId, eventKey);
    const committed: QuotaState = { meter, period, included: terms.included, used: total, policy: terms.policy };
    if (identity !== null && this.recentlyRecorded.has(identity)) return repeatOf(committed, 'recorded');
    if (identity !== null && this.inFlight.has(identity)) return repeatOf(committed, 'in_flight');
    // Reserved: in flight here. Queued: acknowledged by the JetStream stream here, not yet committed (0 when direct).
    const used = total + (this.reserved.get(key) ?? 0n) + this.ingestor.queuedUnits(customerId, meter, period.start);
    const state: QuotaState = { ...committed, used };
    const over = terms.included !== null && used + BigInt(cost) > BigInt(terms.included);
    const refused = used + BigInt(cost) > this.config.maxCounterTotal ? 'counter_limit' : over && terms.policy === 'block' ? 'quota' : null;
    if (eventKey !== null && !decision.lookedUp && (refused || (over && terms.policy === 'throttle'))) {
      // About to be refused or slowed: a retry of a request recorded elsewhere (or before a restart) is told apart
      // by one index lookup, then everything is decided again (reservations moved during the lookup).
      decision.lookedUp = true;
      return this.recordedInLedger(customerId, eventKey).then((recorded) => {
        if (!recorded) return this.decide(decision, total);
        this.noteRecorded(customerId, eventKey);
        return repeatOf(committed, 'recorded');
      });
    }
    if (refused) return { state, over, refused, duplicate: null, release: nothingReserved };
    return { state, over, refused: null, duplicate: null, release: this.reserve(customerId, meter, period, cost, identity) };
  }

  /** With the database away, a retry cannot be told from a new request: it is decided like one. */
  private async recordedInLedger(customerId: string, eventKey: string): Promise<boolean> {
    try {
      return await this.ledger.hasEvent(customerId, eventKey);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      return false;
    }
  }

  /** Called by the interceptor once a keyed request's event is recorded (committed or spooled). */
  noteRecorded(customerId: string, eventKey: string): void {
    const identity = eventIdentity(customerId, eventKey);
    this.recentlyRecorded.delete(identity);
    this.recentlyRecorded.add(identity);
    if (this.recentlyRecorded.size > RECENTLY_RECORDED_MAX) this.recentlyRecorded.delete(this.recentlyRecorded.values().next().value!);
  }

  /** The committed total as this instance knows it (no database read): what a duplicate's headers show. */
  committedTotal(customerId: string, meter: string, periodStart: Date): bigint | null {
    return this.totals.get(counterKey(customerId, meter, periodStart))?.total ?? null;
  }

  /** Units recorded here while the database was away (spooled), so a stale total still moves. */
  private spooledSince(key: string): bigint {
    return this.spooled.get(key) ?? 0n;
  }

  /** Called by the interceptor for an event that went to the spool. */
  noteSpooled(customerId: string, meter: string, periodStart: Date, quantity: number): void {
    const key = counterKey(customerId, meter, periodStart);
    this.spooled.set(key, (this.spooled.get(key) ?? 0n) + BigInt(quantity));
  }

  /**
   * Holds `quantity` for a request in flight (and, for a keyed one, marks its event in flight so a concurrent
   * retry does not reserve it again); call the returned function once it is recorded or abandoned.
   */
  reserve(customerId: string, meter: string, period: BillingPeriod, quantity: number, identity: string | null = null): () => void {
    const key = counterKey(customerId, meter, period.start);
    const amount = BigInt(quantity);
    this.reserved.set(key, (this.reserved.get(key) ?? 0n) + amount);
    if (identity !== null) this.inFlight.set(identity, (this.inFlight.get(identity) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.reserved.get(key) ?? 0n) - amount;
      if (left > 0n) this.reserved.set(key, left);
      else this.reserved.delete(key);
      if (identity !== null) {
        const holders = (this.inFlight.get(identity) ?? 0) - 1;
        if (holders > 0) this.inFlight.set(identity, holders);
        else this.inFlight.delete(identity);
      }
    };
  }

  private freshTotal(key: string): bigint | undefined {
    const cached = this.totals.get(key);
    return cached && Date.now() - cached.fetchedAt < TOTAL_TTL_MS ? cached.total : undefined;
  }

  private async total(key: string, customerId: string, meter: string, periodStart: Date): Promise<bigint> {
    const cached = this.totals.get(key);
    if (cached && Date.now() - cached.fetchedAt < TOTAL_TTL_MS) return cached.total;
    let total: bigint;
    try {
      total = await this.ledger.counterTotal(customerId, meter, periodStart);
    } catch (error) {
      // The database is away: events are being spooled, so keep serving on the last known total
      // (or none yet) rather than failing the request; the quota catches up when the spool replays.
      if (!isDatabaseUnavailable(error)) throw error;
      this.logger.warn(`quota of ${customerId}/${meter} checked against the last known total: database unavailable`);
      return (cached?.total ?? 0n) + this.spooledSince(key);
    }
    const latest = this.totals.get(key);
    // A local commit may have landed while we read: never go backwards.
    const value = latest && latest.total > total ? latest.total : total;
    this.totals.set(key, { total: value, fetchedAt: Date.now() });
    return value;
  }

  /** Totals another instance committed: the cache moves forward (never back); alerts are that instance's. */
  private onTotalsElsewhere(counters: CounterTotal[]): void {
    for (const counter of counters) this.cacheTotal(counter);
  }

  /** A committed total moves the cache forward, never back (an older commit's news may come later). */
  private cacheTotal(counter: CounterTotal): string {
    const key = counterKey(counter.customerId, counter.meter, counter.periodStart);
    const cached = this.totals.get(key);
    if (!cached || counter.total >= cached.total) this.totals.set(key, { total: counter.total, fetchedAt: Date.now() });
    return key;
  }

  private onCounters(counters: CounterTotal[]): void {
    for (const counter of counters) {
      const key = this.cacheTotal(counter);
      this.spooled.delete(key);
      this.events.emit(USAGE_RECORDED, {
        customerId: counter.customerId,
        meter: counter.meter,
        periodStart: counter.periodStart,
        periodEnd: counter.periodEnd,
        delta: jsonQuantity(counter.delta),
        total: jsonQuantity(counter.total),
      } satisfies UsageRecordedEvent);
      // One customer and meter at a time, in commit order: a listener never hears "120 %" before "quota exceeded".
      void this.alertsInOrder
        .run(key, () => this.raiseAlerts(counter))
        .catch((error: Error) => this.logger.error(`alerts for ${counter.customerId}: ${error.message}`));
    }
  }

  /** Thresholds crossed by this commit (between total − delta and total), each recorded and announced once. */
  private async raiseAlerts(counter: CounterTotal): Promise<void> {
    const customer = await this.customers.findCached(counter.customerId);
    const tier = customer && this.tiers.find(customer.tier);
    if (!customer || !tier) return;
    const terms = this.termsFor({ tier, limits: this.customers.limitsOf(customer) }, counter.meter);
    if (terms.included === null || terms.included <= 0) return;
    const included = BigInt(terms.included);
    const before = counter.total - counter.delta;
    // value reaches `percent` % of the included quantity, in exact integers.
    const reaches = (value: bigint, percent: number) => value * 100n >= BigInt(percent) * included;
    const base = {
      customerId: counter.customerId,
      meter: counter.meter,
      periodStart: counter.periodStart,
      periodEnd: counter.periodEnd,
      total: jsonQuantity(counter.total),
      included: terms.included,
      policy: terms.policy,
    };
    const record = { customerId: counter.customerId, meter: counter.meter, periodStart: counter.periodStart, total: counter.total };
    for (const threshold of terms.thresholds) {
      if (!reaches(before, threshold) && reaches(counter.total, threshold)) {
        const first = await this.ledger.recordAlertOnce({ ...record, kind: 'threshold', threshold });
        if (first) this.events.emit(USAGE_THRESHOLD_CROSSED, { ...base, threshold } satisfies UsageThresholdCrossedEvent);
      }
    }
    if (before < included && counter.total >= included) {
      const first = await this.ledger.recordAlertOnce({ ...record, kind: 'quota_exceeded', threshold: 100 });
      if (first) this.events.emit(QUOTA_EXCEEDED, { ...base, threshold: 100 } satisfies UsageThresholdCrossedEvent);
    }
  }
}
