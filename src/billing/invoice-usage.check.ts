import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import { TollgateConfig } from '../config/index.js';
import { billingAnchor, type CustomerEntity } from '../customers/index.js';
import { periodContaining } from '../metering/index.js';
import { UsageLedger } from '../metering/index.js';
import { TiersService } from '../tiers/index.js';
import { BILLING_DRIFT_DETECTED, type DriftDetectedEvent } from './billing.events.js';
import { InjectStripe, type StripeClient } from './stripe.client.js';

/** One metered invoice line compared with Tollgate's own total for its customer, meter and period. */
export interface InvoiceUsageFinding {
  invoiceId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  /** Tollgate's total (negative totals count as 0, as Stripe bills them). */
  tollgateTotal: bigint;
  invoicedQuantity: bigint;
  /** tollgateTotal − invoicedQuantity: positive when usage missed the invoice. */
  difference: bigint;
}

/**
 * Checks each subscription invoice against Tollgate's ledger: the metered line of a whole billing period must
 * carry the period's total. On `invoice.created` (a draft) a shortfall is only logged — the period-close sync
 * still has the finalization grace to push it, and the draft is re-priced when it finalizes; on
 * `invoice.finalized` the quantity is final ("usage reported after finalization lands on no invoice"), so any
 * difference above the drift threshold raises `billing.drift_detected` (an operator alert) with the numbers.
 * Lines covering part of a period (an item added or removed mid-period) are not compared: the ledger counts
 * whole periods.
 */
@Injectable()
export class InvoiceUsageCheck {
  private readonly logger = new Logger('InvoiceUsageCheck');

  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
  ) {}

  async check(customer: CustomerEntity, invoice: Stripe.Invoice, stage: 'draft' | 'finalized'): Promise<InvoiceUsageFinding[]> {
    const stripe = this.stripe;
    if (!stripe || !invoice.id) return [];
    const findings: InvoiceUsageFinding[] = [];
    for (const line of await this.linesOf(stripe, invoice)) {
      const meter = await this.meterOf(stripe, line);
      if (!meter) continue;
      const lineStart = new Date(line.period.start * 1000);
      const lineEnd = new Date(line.period.end * 1000);
      const period = periodContaining(lineStart, billingAnchor(customer));
      if (period.start.getTime() !== lineStart.getTime() || period.end.getTime() !== lineEnd.getTime()) {
        this.logger.debug(`invoice ${invoice.id}: ${meter} line ${line.id} covers part of a period; not compared`);
        continue;
      }
      const total = (await this.ledger.countersForPeriod(customer.id, period.start)).get(meter) ?? 0n;
      const tollgateTotal = total > 0n ? total : 0n;
      const invoicedQuantity = BigInt(line.quantity ?? 0);
      const difference = tollgateTotal - invoicedQuantity;
      findings.push({ invoiceId: invoice.id, meter, periodStart: period.start, periodEnd: period.end, tollgateTotal, invoicedQuantity, difference });
      if (difference === 0n) continue;
      const magnitude = difference < 0n ? -difference : difference;
      if (stage === 'draft') {
        this.logger.warn(
          `draft invoice ${invoice.id} of ${customer.id}: ${meter} ${invoicedQuantity} invoiced, ${tollgateTotal} recorded (${difference > 0n ? 'missing' : 'extra'} ${magnitude}); it is re-priced when it finalizes`,
        );
        continue;
      }
      if (magnitude <= BigInt(this.config.driftThreshold)) continue;
      this.logger.warn(`finalized invoice ${invoice.id} of ${customer.id}: ${meter} ${invoicedQuantity} invoiced, ${tollgateTotal} recorded (difference ${difference})`);
      this.events.emit(BILLING_DRIFT_DETECTED, {
        customerId: customer.id,
        meter,
        periodStart: period.start,
        pushedTotal: Number(tollgateTotal),
        stripeTotal: Number(invoicedQuantity),
        drift: Number(difference),
        invoiceId: invoice.id,
      } satisfies DriftDetectedEvent);
    }
    return findings;
  }

  /** Every line: the event's snapshot carries the first page only when there are more. */
  private async linesOf(stripe: Stripe, invoice: Stripe.Invoice): Promise<Stripe.InvoiceLineItem[]> {
    if (!invoice.lines?.has_more) return invoice.lines?.data ?? [];
    const lines: Stripe.InvoiceLineItem[] = [];
    for await (const line of stripe.invoices.listLineItems(invoice.id!, { limit: 100 })) lines.push(line);
    return lines;
  }

  /** The Tollgate meter a line bills, from its (metered) price's metadata; null for other lines. */
  private async meterOf(stripe: Stripe, line: Stripe.InvoiceLineItem): Promise<string | null> {
    const ref = line.pricing?.price_details?.price;
    if (!ref) return null;
    const price = typeof ref === 'string' ? await stripe.prices.retrieve(ref) : ref;
    if (price.recurring?.usage_type !== 'metered') return null;
    const meter = price.metadata?.tollgate_meter;
    return meter && this.tiers.catalog.meters.some((candidate) => candidate.name === meter) ? meter : null;
  }
}
