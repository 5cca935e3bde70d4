import { Inject, Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { KeyedSerializer } from '../common/keyed-serializer.js';
import { CUSTOMER_CHANGED, type CustomerChangedEvent } from '../customers/customers.events.js';
import { CustomersService } from '../customers/customers.service.js';
import { InjectTollgateDataSource } from '../database/tollgate-connection.js';
import type { BillingPeriod } from '../metering/billing-period.js';
import { TiersService } from '../tiers/tiers.service.js';
import { stripeNames } from './stripe.client.js';

export interface BillingHistoryRow {
  kind: 'tier_change' | 'snapshot';
  at: Date;
  previousTier: string | null;
  tier: string;
  stripeSubscriptionId: string | null;
  period: BillingPeriod | null;
  /** tier_change only: per meter, what Stripe's meter held for the segment that closed at `at`. */
  closedQuantities: Record<string, number> | null;
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
}

const MINUTE = 60_000;
/** Stripe accepts meter events up to 5 minutes ahead; none of ours is stamped later than that. */
const EVENT_LEAD_MS = 5 * MINUTE;

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
    await this.insert(customerId, {
      kind: 'snapshot',
      at,
      previousTier: last?.tier ?? null,
      tier: customer.tier,
      stripeSubscriptionId: customer.stripeSubscriptionId,
      period: customer.periodStart && customer.periodEnd ? { start: customer.periodStart, end: customer.periodEnd } : null,
      closedQuantities: null,
    });
  }

  recordTierChange(customerId: string, row: Omit<BillingHistoryRow, 'kind'>): Promise<void> {
    return this.perCustomer.run(customerId, () => this.insert(customerId, { ...row, kind: 'tier_change' }));
  }

  private async insert(customerId: string, row: BillingHistoryRow): Promise<void> {
    await this.dataSource.query(
      `INSERT INTO billing_history (customer_id, kind, at, previous_tier, tier, stripe_subscription_id, period_start, period_end, closed_quantities)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
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
      ],
    );
  }

  /** The customer's rows, oldest first. */
  async rows(customerId: string): Promise<BillingHistoryRow[]> {
    const rows = (await this.dataSource.query(
      `SELECT kind, at, previous_tier, tier, stripe_subscription_id, period_start, period_end, closed_quantities
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
      closedQuantities: typeof row.closed_quantities === 'string' ? (JSON.parse(row.closed_quantities) as Record<string, number>) : row.closed_quantities,
    }));
  }

  /**
   * What Stripe's meters hold now for the customer from `since` on, per meter: read just before a tier change,
   * it is what Stripe bills at the old price ("On January 16, we create an invoice item billing for usage from
   * January 1 to January 16", usage-based/manage-billing-setup) — the usage it has processed by then.
   */
  async meteredSince(stripe: Stripe, stripeCustomerId: string, since: Date, now = new Date()): Promise<Record<string, number>> {
    const start = Math.ceil(since.getTime() / MINUTE) * MINUTE;
    const end = Math.ceil((now.getTime() + EVENT_LEAD_MS) / MINUTE) * MINUTE;
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
}

function sameInstant(a: Date | string | null, b: Date | null): boolean {
  if (a === null || b === null) return a === b;
  return new Date(a).getTime() === b.getTime();
}
