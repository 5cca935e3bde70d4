import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { LedgerPartitions } from './ledger-partitions.service.js';

/** Every 6 hours: months ahead are ready long before they start, and retention runs within a day of falling due. */
const EVERY_MS = 6 * 3_600_000;

/**
 * Runs the ledger's partition maintenance at start and every 6 hours (a plain timer, not a cron job: the module
 * also runs inside host apps that have no scheduler). Instances take turns through an advisory lock.
 */
@Injectable()
export class LedgerPartitionsScheduler implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('LedgerPartitions');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(@Inject(LedgerPartitions) private readonly partitions: LedgerPartitions) {}

  onApplicationBootstrap(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), EVERY_MS);
    this.timer.unref();
  }

  /** Before the database closes (its hooks run on application shutdown): a run in progress finishes first. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.partitions
      .maintain()
      .catch((error: Error) => this.logger.error(`ledger maintenance failed: ${error.message}`))
      .finally(() => (this.running = null));
  }
}
