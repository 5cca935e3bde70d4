import { BadRequestException, Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { type JsonQuantity, jsonQuantity } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { billingAnchor } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { periodFromQuery } from '../metering/index.js';
import { UsageLedger } from '../metering/index.js';
import { TiersService } from '../tiers/index.js';
import { BILLING_DRIFT_DETECTED, type DriftDetectedEvent } from './billing.events.js';
import { periodCloseWarnings } from './period-close.scheduler.js';
import { type Push, PushOutbox } from './push-outbox.js';
import { InjectStripe, type StripeClient, stripeNames } from './stripe.client.js';
import { UsageSyncService } from './usage-sync.service.js';

export interface ReconciliationRow {
  customerId: string;
  meter: string;
  period: { start: string; end: string };
  /** Usage quantities: JSON numbers while ≤ 2^53 − 1, else exact decimal strings. */
  localTotal: JsonQuantity;
  pushedTotal: number;
  /**
   * Of pushedTotal, what Stripe has surely processed: pushes sent more than STRIPE_SUMMARY_DELAY_MS ago.
   * Stripe's summaries are eventually consistent; a push younger than that may not show yet.
   */
  settledTotal: number;
  /** Null when Stripe is off. */
  stripeTotal: number | null;
  /**
   * What we believe Stripe has but it does not (or the reverse, negative), beyond what its summary delay
   * explains: 0 while Stripe's total lies between the settled total and the totals pushed since.
   */
  drift: number | null;
  /** localTotal − pushedTotal: recorded, not pushed yet (the next sync sends it). */
  unpushed: JsonQuantity;
}

export interface ReconciliationReport {
  rows: ReconciliationRow[];
  driftDetected: number;
  /** Pushes Stripe refused (or can no longer take) whose usage was not re-sent yet: what Stripe does not have. */
  failedPushes: Push[];
  /** Configuration that lets usage miss invoices (e.g. late-event grace + sync delay beyond the finalization grace). */
  warnings: string[];
}

/** Compares, per customer and meter, what we recorded, what we pushed, and what Stripe's meter says. */
@Injectable()
export class ReconciliationService {
  private readonly logger = new Logger('Reconciliation');

  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(PushOutbox) private readonly outbox: PushOutbox,
    @Inject(UsageSyncService) private readonly sync: UsageSyncService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
  ) {}

  async reconcile(periodQuery = 'current'): Promise<ReconciliationReport> {
    // Checked before the loop: without billable customers a bad period would otherwise pass unnoticed.
    if (!periodFromQuery(periodQuery, null)) {
      throw new BadRequestException({ error: 'validation_failed', message: 'period must be "current" or YYYY-MM.', details: [{ field: 'period', problems: ['must be "current" or YYYY-MM'] }] });
    }
    this.sync.forgetMeters();
    const rows: ReconciliationRow[] = [];
    for (const customer of await this.customers.billable()) {
      const anchor = billingAnchor(customer);
      const period = periodFromQuery(periodQuery, anchor)!;
      const counters = await this.ledger.countersForPeriod(customer.id, period.start);
      const pushed = await this.outbox.pushedTotals([period.start], new Date(Date.now() - this.config.stripeSummaryDelayMs));
      for (const meter of this.tiers.catalog.meters) {
        const localTotal = counters.get(meter.name) ?? 0n;
        const sent = pushed.get(`${customer.id}|${meter.name}|${period.start.getTime()}`) ?? { latest: 0, settled: 0, low: 0, high: 0 };
        const pushedTotal = sent.latest;
        const stripeTotal = await this.stripeTotal(customer.stripeCustomerId!, meter.name, period.start, period.end);
        const drift = stripeTotal === null ? null : stripeTotal < sent.low ? sent.low - stripeTotal : stripeTotal > sent.high ? sent.high - stripeTotal : 0;
        rows.push({
          customerId: customer.id,
          meter: meter.name,
          period: { start: period.start.toISOString(), end: period.end.toISOString() },
          localTotal: jsonQuantity(localTotal),
          pushedTotal,
          settledTotal: sent.settled,
          stripeTotal,
          drift,
          unpushed: jsonQuantity(localTotal - BigInt(pushedTotal)),
        });
        if (drift !== null && Math.abs(drift) > this.config.driftThreshold) {
          this.events.emit(BILLING_DRIFT_DETECTED, {
            customerId: customer.id,
            meter: meter.name,
            periodStart: period.start,
            pushedTotal,
            stripeTotal: stripeTotal!,
            drift,
          } satisfies DriftDetectedEvent);
        }
      }
    }
    const failedPushes = await this.outbox.unresolvedFailures(100);
    return {
      rows,
      driftDetected: rows.filter((row) => row.drift !== null && Math.abs(row.drift) > this.config.driftThreshold).length,
      failedPushes,
      warnings: periodCloseWarnings(this.config),
    };
  }

  /**
   * The scheduled run: the current period of every customer, and the previous one while its invoice may still
   * be a draft (usage that missed it is worth an alert). Only one instance needs to do it, but a second one
   * only repeats the comparison (alerts are recorded once per customer, meter and drift).
   */
  async scheduled(): Promise<void> {
    const { driftDetected } = await this.reconcile('current');
    if (driftDetected > 0) this.logger.warn(`reconciliation: ${driftDetected} customer/meter pairs drift from Stripe`);
  }

  private async stripeTotal(stripeCustomerId: string, meter: string, start: Date, end: Date): Promise<number | null> {
    return this.stripe ? this.sync.stripeTotal(this.stripe, stripeNames.meterEvent(meter), stripeCustomerId, { start, end }) : null;
  }
}
