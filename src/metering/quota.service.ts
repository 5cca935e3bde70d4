import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type { Consumer } from '../api-keys/consumer.js';
import { isDatabaseUnavailable } from '../common/database-errors.js';
import { CUSTOM, DEFAULT_METER, type QuotaPolicy } from '../config/tier-catalog.js';
import { CustomersService } from '../customers/customers.service.js';
import { TiersService } from '../tiers/tiers.service.js';
import { type BillingPeriod, periodContaining } from './billing-period.js';
import { UsageIngestor } from './usage-ingestor.js';
import { type CounterTotal, UsageLedger } from './usage-ledger.js';
import {
  QUOTA_EXCEEDED,
  USAGE_RECORDED,
  USAGE_THRESHOLD_CROSSED,
  type UsageRecordedEvent,
  type UsageThresholdCrossedEvent,
} from './usage.events.js';

/** Counters other instances moved are seen within this long; this instance's own commits at once. */
const TOTAL_TTL_MS = 2_000;

export interface QuotaState {
  meter: string;
  period: BillingPeriod;
  /** Included quantity this period; null = the tier sets no quota for this meter. */
  included: number | null;
  /** Committed total plus what requests in flight on this instance have reserved. */
  used: number;
  policy: QuotaPolicy;
}

interface QuotaTerms {
  included: number | null;
  policy: QuotaPolicy;
  thresholds: number[];
}

const counterKey = (customerId: string, meter: string, periodStart: Date) => `${customerId}\u0000${meter}\u0000${periodStart.getTime()}`;

/**
 * Knows how much of its quota a customer has used: a short-lived in-process copy of the counters (updated
 * by every local commit), plus reservations for requests in flight so concurrent requests cannot all slip
 * into the last unit on one instance. Also turns counter moves into `usage.*` / `quota.exceeded` events.
 */
@Injectable()
export class QuotaService implements OnModuleInit {
  private readonly logger = new Logger('Quota');
  private readonly totals = new Map<string, { total: number; fetchedAt: number }>();
  private readonly reserved = new Map<string, number>();
  private readonly spooled = new Map<string, number>();

  constructor(
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
  ) {}

  onModuleInit(): void {
    this.ingestor.onCounters((counters) => this.onCounters(counters));
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
    return { meter, period, included: terms.included, used: total + (this.reserved.get(key) ?? 0), policy: terms.policy };
  }

  /**
   * The state and, unless a `block` quota refuses `cost`, a reservation of it — decided in ONE synchronous step
   * once the total is known. (Reading `used` with `state()` and reserving afterwards leaves an await between the
   * two: requests resuming together all saw the same `used` and all passed a block quota.)
   */
  async admit(
    consumer: Consumer,
    meter: string,
    cost: number,
    at = new Date(),
  ): Promise<{ state: QuotaState; over: boolean; release: (() => void) | null }> {
    const period = periodContaining(at, consumer.billingPeriod);
    const key = counterKey(consumer.customerId, meter, period.start);
    const terms = this.termsFor(consumer, meter);
    const total = await this.total(key, consumer.customerId, meter, period.start);
    // No await from here to the reservation.
    const used = total + (this.reserved.get(key) ?? 0);
    const over = terms.included !== null && used + cost > terms.included;
    const release = over && terms.policy === 'block' ? null : this.reserve(consumer.customerId, meter, period, cost);
    return { state: { meter, period, included: terms.included, used, policy: terms.policy }, over, release };
  }

  /** Units recorded here while the database was away (spooled), so a stale total still moves. */
  private spooledSince(key: string): number {
    return this.spooled.get(key) ?? 0;
  }

  /** Called by the interceptor for an event that went to the spool. */
  noteSpooled(customerId: string, meter: string, periodStart: Date, quantity: number): void {
    const key = counterKey(customerId, meter, periodStart);
    this.spooled.set(key, (this.spooled.get(key) ?? 0) + quantity);
  }

  /** Holds `quantity` for a request in flight; call the returned function once it is recorded or abandoned. */
  reserve(customerId: string, meter: string, period: BillingPeriod, quantity: number): () => void {
    const key = counterKey(customerId, meter, period.start);
    this.reserved.set(key, (this.reserved.get(key) ?? 0) + quantity);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.reserved.get(key) ?? 0) - quantity;
      if (left > 0) this.reserved.set(key, left);
      else this.reserved.delete(key);
    };
  }

  private async total(key: string, customerId: string, meter: string, periodStart: Date): Promise<number> {
    const cached = this.totals.get(key);
    if (cached && Date.now() - cached.fetchedAt < TOTAL_TTL_MS) return cached.total;
    let total: number;
    try {
      total = await this.ledger.counterTotal(customerId, meter, periodStart);
    } catch (error) {
      // The database is away: events are being spooled, so keep serving on the last known total
      // (or none yet) rather than failing the request; the quota catches up when the spool replays.
      if (!isDatabaseUnavailable(error)) throw error;
      this.logger.warn(`quota of ${customerId}/${meter} checked against the last known total: database unavailable`);
      return (cached?.total ?? 0) + this.spooledSince(key);
    }
    const latest = this.totals.get(key);
    // A local commit may have landed while we read: never go backwards.
    const value = latest && latest.total > total ? latest.total : total;
    this.totals.set(key, { total: value, fetchedAt: Date.now() });
    return value;
  }

  private onCounters(counters: CounterTotal[]): void {
    for (const counter of counters) {
      const key = counterKey(counter.customerId, counter.meter, counter.periodStart);
      const cached = this.totals.get(key);
      if (!cached || counter.total >= cached.total) this.totals.set(key, { total: counter.total, fetchedAt: Date.now() });
      this.spooled.delete(key);
      this.events.emit(USAGE_RECORDED, { ...counter } satisfies UsageRecordedEvent);
      void this.raiseAlerts(counter).catch((error: Error) => this.logger.error(`alerts for ${counter.customerId}: ${error.message}`));
    }
  }

  /** Thresholds crossed by this commit (between total − delta and total), each recorded and announced once. */
  private async raiseAlerts(counter: CounterTotal): Promise<void> {
    const customer = await this.customers.findCached(counter.customerId);
    const tier = customer && this.tiers.find(customer.tier);
    if (!customer || !tier) return;
    const terms = this.termsFor({ tier, limits: this.customers.limitsOf(customer) }, counter.meter);
    if (terms.included === null || terms.included <= 0) return;
    const before = counter.total - counter.delta;
    const percent = (value: number) => (value * 100) / terms.included!;
    const base = {
      customerId: counter.customerId,
      meter: counter.meter,
      periodStart: counter.periodStart,
      periodEnd: counter.periodEnd,
      total: counter.total,
      included: terms.included,
      policy: terms.policy,
    };
    for (const threshold of terms.thresholds) {
      if (percent(before) < threshold && percent(counter.total) >= threshold) {
        const first = await this.ledger.recordAlertOnce({ ...base, kind: 'threshold', threshold });
        if (first) this.events.emit(USAGE_THRESHOLD_CROSSED, { ...base, threshold } satisfies UsageThresholdCrossedEvent);
      }
    }
    if (before < terms.included && counter.total >= terms.included) {
      const first = await this.ledger.recordAlertOnce({ ...base, kind: 'quota_exceeded', threshold: 100 });
      if (first) this.events.emit(QUOTA_EXCEEDED, { ...base, threshold: 100 } satisfies UsageThresholdCrossedEvent);
    }
  }
}
