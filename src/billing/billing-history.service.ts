import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2, OnEvent } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { KeyedSerializer } from '../common/index.js';
import { CUSTOMER_CHANGED, type CustomerChangedEvent } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import type { BillingPeriod } from '../metering/index.js';
import { UsageLedger } from '../metering/index.js';
import { TiersService } from '../tiers/index.js';
import { BILLING_DRIFT_DETECTED, type DriftDetectedEvent } from './billing.events.js';
import { InjectStripe, type StripeClient, stripeNames } from './stripe.client.js';

export interface BillingHistoryRow {
  kind: 'tier_change' | 'snapshot';
  at: Date;
  previousTier: string | null;
  tier: string;
  stripeSubscriptionId: string | null;
  period: BillingPeriod | null;
  /** tier_change only: per meter, what Stripe's meter held for the segment that closed at `at`. */
  closedQuantities: Record<string, number> | null;
  /** tier_change only: per meter, what was pushed into that segment beyond it (on no invoice: alerted). */
  lostQuantities: Record<string, number> | null;
}

interface Row {
  kind: BillingHistoryRow['kind'];
  at: Date;
  previous_tier: string | null;
  tier: string;
  stripe_subscription_id: string | null;
  period_start: Date | null;
  period_end: Date | null;
  closed_quantities: Record<string, number> | string | null;
  lost_quantities: Record<string, number> | string | null;
}

const MINUTE = 60_000;

/**
 * A customer's billing over time (tier, subscription, period), so that the invoice closing a period can be
 * previewed after the fact, tier changes and cancellations included. Rows are added, never changed.
 */
@Injectable()
export class BillingHistoryService {
  private readonly logger = new Logger('BillingHistory');
  private readonly perCustomer = new KeyedSerializer();

  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @InjectStripe() private readonly stripe: StripeClient,
  ) {}

  /** Records the customer's billing when its tier, subscription or period differs from the last row. */
  @OnEvent(CUSTOMER_CHANGED, { async: true, promisify: true })
  onCustomerChanged(event: CustomerChangedEvent): Promise<void> {
    const at = new Date();
    return this.perCustomer
      .run(event.customerId, () => this.snapshot(event.customerId, at))
      .catch((error: Error) => this.logger.error(`billing history of ${event.customerId} not recorded: ${error.message}`));
  }

  private async snapshot(customerId: string, at: Date): Promise<void> {
    const customer = await this.customers.find(customerId);
    if (!customer) return;
    const [last] = (await this.dataSource.query(
      `SELECT kind, at, previous_tier, tier, stripe_subscription_id, period_start, period_end, closed_quantities
         FROM billing_history WHERE customer_id = $1 ORDER BY at DESC, id DESC LIMIT 1`,
      [customerId],
    )) as Row[];
    const same =
      last &&
      last.tier === customer.tier &&
      last.stripe_subscription_id === customer.stripeSubscriptionId &&
      sameInstant(last.period_start, customer.periodStart) &&
      sameInstant(last.period_end, customer.periodEnd);
    if (same) return;
    const endedSubscription = last?.stripe_subscription_id && !customer.stripeSubscriptionId ? last.stripe_subscription_id : null;
    // A subscription that ended: dated when Stripe ended it (its webhook may come hours late), when Stripe says.
    const ended = endedSubscription ? await this.endedSubscription(endedSubscription) : null;
    const endedAt = ended?.ended_at ?? ended?.canceled_at ?? null;
    await this.insert(customerId, {
      kind: 'snapshot',
      at: endedAt !== null ? new Date(endedAt * 1000) : at,
      previousTier: last?.tier ?? null,
      tier: customer.tier,
      stripeSubscriptionId: customer.stripeSubscriptionId,
      period: customer.periodStart && customer.periodEnd ? { start: customer.periodStart, end: customer.periodEnd } : null,
      closedQuantities: null,
      lostQuantities: null,
    });
    if (ended && last.period_start && last.period_end) {
      await this.checkEndedMidPeriod(customerId, ended, { start: new Date(last.period_start), end: new Date(last.period_end) });
    }
  }

  private async endedSubscription(subscriptionId: string): Promise<Stripe.Subscription | null> {
    if (!this.stripe) return null;
    try {
      return await this.stripe.subscriptions.retrieve(subscriptionId, { expand: ['latest_invoice'] });
    } catch (error) {
      this.logger.warn(`subscription ${subscriptionId} not retrieved (${(error as Error).message}): its end is dated when Tollgate heard of it, and not checked for a final invoice`);
      return null;
    }
  }

  /**
   * A subscription cancelled before its period's end bills that period's usage only with a final invoice:
   * "invoice_now: Will generate a final invoice that invoices for any un-invoiced metered usage and new/pending
   * proration invoice items. Defaults to false." (SubscriptionCancelParams). Without one, the usage Tollgate
   * recorded for the period is on no invoice: named in `billing.drift_detected`, per meter.
   */
  private async checkEndedMidPeriod(customerId: string, subscription: Stripe.Subscription, period: BillingPeriod): Promise<void> {
    const subscriptionId = subscription.id;
    const endedAt = subscription.ended_at ?? subscription.canceled_at;
    // Only a cancellation: a subscription that expired unpaid (incomplete_expired) never granted its tier.
    if (subscription.status !== 'canceled' || endedAt === null) return;
    // Ended with its period (cancelled at period end): the period's own invoice bills the usage.
    if (endedAt * 1000 >= period.end.getTime() - MINUTE) return;
    const latest = subscription.latest_invoice;
    if (latest && typeof latest !== 'string' && latest.created >= endedAt && latest.billing_reason !== 'subscription_create') return;
    for (const [meter, total] of await this.ledger.countersForPeriod(customerId, period.start)) {
      if (total <= 0n) continue;
      this.logger.warn(`${customerId}: subscription ${subscriptionId} cancelled mid-period without a final invoice; ${total} ${meter} of the period are on no invoice`);
      this.events.emit(BILLING_DRIFT_DETECTED, {
        customerId,
        meter,
        periodStart: period.start,
        pushedTotal: Number(total),
        stripeTotal: 0,
        drift: Number(total),
      } satisfies DriftDetectedEvent);
    }
  }

  /**
   * Records a price swap made mid-period at Stripe's instant `at`. Swapping the prices closes the metered items:
   * "On January 16, we create an invoice item billing for usage from January 1 to January 16"
   * (usage-based/manage-billing-setup) — from the usage Stripe has processed by then, and the new price bills
   * only what is stamped from the change on. So the segment that closed holds what Stripe's meters show for
   * it now; whatever Tollgate pushed into it beyond that (stamped before the change, not processed yet) lands
   * on no invoice: it is recorded as lost and raises `billing.drift_detected`.
   */
  async recordTierChange(
    stripe: Stripe,
    customer: { id: string; stripeCustomerId: string },
    change: Omit<BillingHistoryRow, 'kind' | 'closedQuantities' | 'lostQuantities'>,
    billingPeriod: BillingPeriod | null,
  ): Promise<void> {
    await this.perCustomer.run(customer.id, async () => {
      const closed: Record<string, number> = {};
      const lost: Record<string, number> = {};
      if (billingPeriod) {
        const earlier = (await this.rows(customer.id)).filter((row) => row.kind === 'tier_change' && row.at >= billingPeriod.start && row.at < change.at);
        const since = earlier[earlier.length - 1]?.at ?? billingPeriod.start;
        Object.assign(closed, await this.meteredBetween(stripe, customer.stripeCustomerId, since, change.at));
        const pushed = await this.pushedBetween(customer.id, billingPeriod.start, since, change.at);
        for (const [meter, quantity] of pushed) {
          const missing = quantity - (closed[meter] ?? 0);
          if (missing > 0) lost[meter] = missing;
        }
        for (const [meter, quantity] of Object.entries(lost)) {
          this.logger.warn(`${customer.id}: ${quantity} ${meter} pushed before the tier change at ${change.at.toISOString()} missed Stripe's closing invoice item`);
          this.events.emit(BILLING_DRIFT_DETECTED, {
            customerId: customer.id,
            meter,
            periodStart: billingPeriod.start,
            pushedTotal: pushed.get(meter) ?? 0,
            stripeTotal: closed[meter] ?? 0,
            drift: quantity,
          } satisfies DriftDetectedEvent);
        }
      }
      await this.insert(customer.id, { ...change, kind: 'tier_change', closedQuantities: closed, lostQuantities: lost });
    });
  }

  private async insert(customerId: string, row: BillingHistoryRow): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO billing_history (customer_id, kind, at, previous_tier, tier, stripe_subscription_id, period_start, period_end, closed_quantities, lost_quantities)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        customerId,
        row.kind,
        row.at,
        row.previousTier,
        row.tier,
        row.stripeSubscriptionId,
        row.period?.start ?? null,
        row.period?.end ?? null,
        row.closedQuantities === null ? null : JSON.stringify(row.closedQuantities),
        row.lostQuantities === null ? null : JSON.stringify(row.lostQuantities),
      ],
    );
  }

  /** Per customer, the instant of their latest tier change (customers without one are absent). */
  async latestTierChanges(customerIds: readonly string[]): Promise<Map<string, Date>> {
    if (customerIds.length === 0) return new Map();
    const rows = (await this.dataSource.query(
      `SELECT customer_id, max(at) AS at FROM billing_history WHERE kind = 'tier_change' AND customer_id = ANY($1) GROUP BY customer_id`,
      [customerIds],
    )) as Array<{ customer_id: string; at: Date | string }>;
    return new Map(rows.map((row) => [row.customer_id, new Date(row.at)]));
  }

  /** The customer's rows, oldest first. */
  async rows(customerId: string): Promise<BillingHistoryRow[]> {
    const rows = (await this.dataSource.query(
      `SELECT kind, at, previous_tier, tier, stripe_subscription_id, period_start, period_end, closed_quantities, lost_quantities
         FROM billing_history WHERE customer_id = $1 ORDER BY at, id`,
      [customerId],
    )) as Row[];
    return rows.map((row) => ({
      kind: row.kind,
      at: new Date(row.at),
      previousTier: row.previous_tier,
      tier: row.tier,
      stripeSubscriptionId: row.stripe_subscription_id,
      period: row.period_start && row.period_end ? { start: new Date(row.period_start), end: new Date(row.period_end) } : null,
      closedQuantities: quantities(row.closed_quantities),
      lostQuantities: quantities(row.lost_quantities),
    }));
  }

  /** What Stripe's meters show now for the customer over [from, to), per meter (minute-aligned, as summaries are). */
  private async meteredBetween(stripe: Stripe, stripeCustomerId: string, from: Date, to: Date): Promise<Record<string, number>> {
    const start = Math.ceil(from.getTime() / MINUTE) * MINUTE;
    const end = Math.ceil(to.getTime() / MINUTE) * MINUTE;
    const quantities: Record<string, number> = {};
    if (end <= start) return quantities;
    const meters = new Map<string, string>();
    for await (const meter of stripe.billing.meters.list({ status: 'active', limit: 100 })) meters.set(meter.event_name, meter.id);
    for (const meter of this.tiers.catalog.meters) {
      const meterId = meters.get(stripeNames.meterEvent(meter.name));
      if (!meterId) continue;
      let total = 0;
      for await (const summary of stripe.billing.meters.listEventSummaries(meterId, { customer: stripeCustomerId, start_time: start / 1000, end_time: end / 1000 })) {
        total += summary.aggregated_value;
      }
      quantities[meter.name] = total;
    }
    return quantities;
  }

  /** What Tollgate sent (or is sending) to Stripe for the period, stamped in [from, to), per meter. */
  private async pushedBetween(customerId: string, periodStart: Date, from: Date, to: Date): Promise<Map<string, number>> {
    const rows = (await this.dataSource.query(
      `SELECT meter, coalesce(sum(delta), 0)::text AS pushed FROM stripe_pushes
        WHERE customer_id = $1 AND period_start = $2 AND status IN ('sent', 'pending') AND event_timestamp >= $3 AND event_timestamp < $4
        GROUP BY meter`,
      [customerId, periodStart, from, to],
    )) as Array<{ meter: string; pushed: string }>;
    return new Map(rows.map((row) => [row.meter, Number(row.pushed)]));
  }
}

function quantities(value: Record<string, number> | string | null): Record<string, number> | null {
  return typeof value === 'string' ? (JSON.parse(value) as Record<string, number>) : value;
}

function sameInstant(a: Date | string | null, b: Date | null): boolean {
  if (a === null || b === null) return a === b;
  return new Date(a).getTime() === b.getTime();
}
