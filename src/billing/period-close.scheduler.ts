import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { TollgateConfig } from '../config/index.js';
import { UsageLedger } from '../metering/index.js';
import { UsageSyncService } from './usage-sync.service.js';

/** How often the scheduler looks for periods that just ended. */
const CHECK_EVERY_MS = 15_000;

/**
 * What is wrong with the timing of period close, if anything: the last late event of a period (accepted until its end
 * + the late-event grace) must be pushed before Stripe finalizes the period's invoice (its end + the account's
 * finalization grace), or it lands on no invoice.
 */
export function periodCloseWarnings(config: TollgateConfig, lateEventGraceMs = config.lateEventGraceMs): string[] {
  const needed = lateEventGraceMs + config.periodCloseSyncDelayMs;
  if (needed <= config.stripeFinalizationGraceMs) return [];
  return [
    `late events are accepted until ${lateEventGraceMs / 60_000} min after a period ends and pushed ${config.periodCloseSyncDelayMs / 1000} s later, ` +
      `but Stripe finalizes the period's invoice ${config.stripeFinalizationGraceMs / 60_000} min after it ends (STRIPE_FINALIZATION_GRACE_MS): ` +
      `usage arriving late may miss the invoice. Raise the invoice finalization grace in your Stripe account's Billing settings ` +
      `(up to 72 h) to at least ${Math.ceil(needed / 60_000)} min and set STRIPE_FINALIZATION_GRACE_MS to match, or lower TOLLGATE_LATE_EVENT_GRACE_MS.`,
  ];
}

/**
 * Runs a sync right after each customer's period ends (TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS later), and again once its
 * late-event grace is over, so the period's usage reaches Stripe before the invoice finalizes. Periods come from the
 * usage counters: a customer without usage in a period has nothing to push for it. The hourly sync still runs.
 */
@Injectable()
export class PeriodCloseScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('PeriodClose');
  private timer: NodeJS.Timeout | null = null;
  /** Close points up to here have had their sync. Set on start to look back one finalization grace (a restart
   * while a period closed must not skip its sync). */
  private checkedUntil: Date;
  private checking: Promise<boolean> | null = null;

  constructor(
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(UsageSyncService) private readonly sync: UsageSyncService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {
    this.checkedUntil = new Date(Date.now() - config.stripeFinalizationGraceMs);
  }

  onApplicationBootstrap(): void {
    for (const warning of periodCloseWarnings(this.config)) this.logger.warn(warning);
    this.timer = setInterval(() => {
      this.check().catch((error: Error) => this.logger.error(`period-close check failed: ${error.message}`));
    }, CHECK_EVERY_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Syncs when a period's close point (end + delay, end + late grace + delay) fell in (last check, now]. The window
   * moves on only once a sync that STARTED after the close point has run here; otherwise it is looked at again.
   */
  async check(now = new Date()): Promise<boolean> {
    // One check at a time (the timer's and a caller's): each sees the window the previous one left.
    while (this.checking) await this.checking.catch(() => false);
    this.checking = this.checkNow(now);
    try {
      return await this.checking;
    } finally {
      this.checking = null;
    }
  }

  private async checkNow(now: Date): Promise<boolean> {
    const since = this.checkedUntil;
    if (now <= since) return false;
    const delay = this.config.periodCloseSyncDelayMs;
    const due = await this.ledger.periodClosedWithin(since, now, [delay, this.config.lateEventGraceMs + delay]);
    if (!due) {
      this.checkedUntil = now;
      return false;
    }
    this.logger.log('a billing period ended: syncing its usage before Stripe finalizes the invoice');
    // A sync that starts after this call (a run already in flight may have planned before the period closed).
    const report = await this.sync.sync();
    if (!report.ran) return false; // another instance holds the sync lock: look again at the next check
    this.checkedUntil = now;
    return true;
  }
}
