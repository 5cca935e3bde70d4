import { Inject, Injectable } from '@nestjs/common';
import { toMinorUnits } from '../common/index.js';
import { CUSTOM } from '../config/index.js';
import { billingAnchor, type CustomerEntity } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { type BillingPeriod, periodContaining } from '../metering/index.js';
import { projectToPeriodEnd } from './usage-projection.js';
import { UsageLedger } from '../metering/index.js';
import { TiersService } from '../tiers/index.js';
import { BillingHistoryService, type BillingHistoryRow } from './billing-history.service.js';
import { type PeriodSegment, periodInvoice } from './invoice-preview.js';
import type { InvoicePreview } from './pricing.js';

/**
 * How long after its period's end a subscription may still be seen ending "with" the period: Stripe ends a
 * subscription cancelled at period end exactly then; the history dates the end by Stripe's `ended_at`, or by
 * when Tollgate heard of it when Stripe could not be asked.
 */
const ENDS_WITH_PERIOD_MS = 3600_000;

export type CustomerInvoicePreview = InvoicePreview & { customerId: string; tier: string; period: { start: string; end: string } };

/** Billing as other modules (the portal) see it: what a customer will pay for a period. */
@Injectable()
export class BillingService {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(BillingHistoryService) private readonly history: BillingHistoryService,
  ) {}

  /**
   * The invoice that closes the period containing `at` (now by default), as Stripe makes it: the period's
   * usage per tier it went through, the prorated base of each tier change, and the next period's base when the
   * subscription renews. For a past period it is what its invoice holds once finalized. `projected`: the same
   * invoice for the usage the period will reach at its current run rate (`projectToPeriodEnd`).
   */
  async invoicePreview(customerId: string, at?: Date, options: { projected?: boolean } = {}): Promise<CustomerInvoicePreview> {
    const customer = await this.customers.get(customerId);
    const instant = at ?? new Date();
    const rows = await this.history.rows(customer.id);
    const current = { tier: customer.tier, stripeSubscriptionId: customer.stripeSubscriptionId, period: billingAnchor(customer) };
    const before = rows.filter((row) => row.at <= instant);
    // The billing in force then: the current one when nothing changed since (the freshest record of it).
    const known = before[before.length - 1] ?? rows[0];
    const inForce = !known || known === rows[rows.length - 1] ? current : known;
    const period = periodContaining(instant, inForce.period);

    const changes = rows.filter((row) => row.kind === 'tier_change' && row.at > period.start && row.at < period.end);
    const counted = await this.ledger.countersForPeriod(customer.id, period.start);
    const usage = options.projected ? projectToPeriodEnd(counted, period, instant) : counted;
    const segments = this.segments(customer, period, inForce.tier, changes, usage);
    // The subscription ends with the period when, just after its end, the customer no longer has it.
    const subscription = inForce.stripeSubscriptionId;
    const afterEnd = rows.filter((row) => row.at.getTime() <= period.end.getTime() + ENDS_WITH_PERIOD_MS);
    const ended = subscription !== null && afterEnd.length > 0 && afterEnd[afterEnd.length - 1].stripeSubscriptionId !== subscription;
    const preview = periodInvoice({ period, segments, renews: !ended });
    return {
      customerId: customer.id,
      tier: segments[segments.length - 1].tier.name,
      period: { start: period.start.toISOString(), end: period.end.toISOString() },
      ...preview,
    };
  }

  /**
   * The customer's base price per month in minor units (its override for custom prices, else its tier's), for
   * MRR: a yearly price counts a twelfth (rounded down to the cent). Null when the tier is custom and no price is set.
   */
  monthlyBaseMinor(customer: Pick<CustomerEntity, 'tier' | 'overrides'>): { amountMinor: bigint; currency: string } | null {
    const tier = this.tiers.find(customer.tier);
    if (!tier) return null;
    const currency = tier.price === CUSTOM ? 'usd' : tier.price.currency;
    const override = customer.overrides.price === undefined ? null : toMinorUnits(customer.overrides.price);
    if (override !== null) return { amountMinor: BigInt(override), currency };
    if (tier.price === CUSTOM) return null;
    const minor = BigInt(tier.price.amountMinor);
    return { amountMinor: tier.price.interval === 'year' ? minor / 12n : minor, currency };
  }

  /**
   * The period's tiers: one segment, or one per tier change made through Stripe. A closed segment holds what
   * Stripe's meter had for it at the change; the last one the rest (what is pushed after the change goes to the
   * new price, whenever it happened), less what was lost at a change (alerted when it was).
   */
  private segments(
    customer: CustomerEntity,
    period: BillingPeriod,
    tierInForce: string,
    changes: BillingHistoryRow[],
    usage: ReadonlyMap<string, bigint>,
  ): PeriodSegment[] {
    const terms = (tierName: string) => {
      const tier = this.tiers.find(tierName) ?? this.tiers.get(customer.tier);
      return { tier, limits: this.customers.limitsOf({ tier: tier.name, overrides: customer.overrides }), priceOverride: customer.overrides.price };
    };
    if (changes.length === 0) return [{ ...terms(tierInForce), start: period.start, usage }];
    const remaining = new Map(usage);
    const segments: PeriodSegment[] = [];
    let start = period.start;
    let tier = changes[0].previousTier ?? tierInForce;
    for (const change of changes) {
      const closed = new Map<string, bigint>();
      for (const [meter, quantity] of Object.entries(change.closedQuantities ?? {})) {
        const value = BigInt(Math.max(0, Math.trunc(quantity))); // Stripe's aggregated values may be decimals
        closed.set(meter, value);
        remaining.set(meter, (remaining.get(meter) ?? 0n) - value);
      }
      // Pushed into the closed segment but missed by Stripe's invoice item: on no invoice (and alerted).
      for (const [meter, quantity] of Object.entries(change.lostQuantities ?? {})) {
        remaining.set(meter, (remaining.get(meter) ?? 0n) - BigInt(Math.max(0, Math.trunc(quantity))));
      }
      segments.push({ ...terms(tier), start, usage: closed });
      start = change.at;
      tier = change.tier;
    }
    for (const [meter, quantity] of remaining) if (quantity < 0n) remaining.set(meter, 0n);
    segments.push({ ...terms(tier), start, usage: remaining });
    return segments;
  }
}
