import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { TollgateConfig } from '../config/tollgate-config.js';
import { UsageSyncService } from './usage-sync.service.js';

/** Runs the usage push on TOLLGATE_SYNC_CRON (hourly by default). */
@Injectable()
export class UsageSyncScheduler implements OnApplicationBootstrap {
  private readonly logger = new Logger('UsageSync');

  constructor(
    @Inject(SchedulerRegistry) private readonly registry: SchedulerRegistry,
    @Inject(UsageSyncService) private readonly sync: UsageSyncService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  onApplicationBootstrap(): void {
    const job = CronJob.from({
      cronTime: this.config.syncCron,
      onTick: () => {
        this.sync.sync().catch((error: Error) => this.logger.error(`scheduled sync failed: ${error.message}`));
      },
      timeZone: 'UTC',
    });
    this.registry.addCronJob('tollgate-usage-sync', job);
    job.start();
  }
}
