import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { CustomersModule } from '../customers/index.js';
import { RateLimitModule } from '../rate-limit/index.js';
import { TiersModule } from '../tiers/index.js';
import { EventsAuthGuard } from './events-auth.guard.js';
import { EventsService } from './events.service.js';
import { LedgerPartitions } from './ledger-partitions.service.js';
import { LedgerPartitionsScheduler } from './ledger-partitions.scheduler.js';
import { MeteringCoreModule } from '../metering-core/index.js';
import { MeteringInterceptor } from './metering.interceptor.js';
import { QuotaAdmission } from './quota.admission.js';
import { QuotaGuard } from './quota.guard.js';
import { QuotaService } from './quota.service.js';
import { UsageIngestor } from './usage-ingestor.js';
import { UsageRecorder } from './usage.recorder.js';
import { UsageLedger } from './usage-ledger.js';
import { UsageService } from './usage.service.js';

/** Metering proper: the ledger, group-commit ingest, quotas, the interceptor, usage reports. */
@Module({
  imports: [CustomersModule, TiersModule, ApiKeysModule, MeteringCoreModule, RateLimitModule],
  providers: [UsageLedger, UsageIngestor, QuotaService, QuotaAdmission, UsageRecorder, QuotaGuard, MeteringInterceptor, EventsService, UsageService, EventsAuthGuard, LedgerPartitions, LedgerPartitionsScheduler],
  // Guards and interceptors named in @UseGuards / @Metered are built in the using module: export their deps.
  exports: [
    UsageIngestor,
    QuotaService,
    QuotaAdmission,
    UsageRecorder,
    QuotaGuard,
    MeteringInterceptor,
    EventsService,
    UsageService,
    EventsAuthGuard,
    UsageLedger,
    LedgerPartitions,
    MeteringCoreModule,
    RateLimitModule,
    // QuotaGuard spends keys' usage caps (KeyUsageCap).
    ApiKeysModule,
  ],
})
export class UsageModule {}
