import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { TollgateConfig } from '../config/index.js';
import { ReconciliationService } from './reconciliation.service.js';
import { UsageSyncService } from './usage-sync.service.js';

/**
 * Runs the usage push on TOLLGATE_SYNC_CRON (hourly by default) and reconciliation on TOLLGATE_RECONCILE_CRON
 * (hourly, half past, by default): drift is noticed without anyone opening /v1/billing/reconciliation.
 */
@Injectable()
export class UsageSyncScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger('UsageSync');

  constructor(
    @Inject(SchedulerRegistry) private readonly registry: SchedulerRegistry,
    @Inject(UsageSyncService) private readonly sync: UsageSyncService,
    @Inject(ReconciliationService) private readonly reconciliation: ReconciliationService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.add('tollgate-usage-sync', this.config.syncCron, () => this.sync.sync().then(() => undefined), 'scheduled sync');
    this.add('tollgate-reconciliation', this.config.reconcileCron, () => this.reconciliation.scheduled(), 'scheduled reconciliation');
  }

  private add(name: string, cronTime: string, run: () => Promise<unknown>, what: string): void {
    const job = CronJob.from({
      cronTime,
      onTick: () => {
        run().catch((error: Error) => this.logger.error(`${what} failed: ${error.message}`));
      },
      timeZone: 'UTC',
    });
    this.registry.addCronJob(name, job);
    job.start();
  }
}
