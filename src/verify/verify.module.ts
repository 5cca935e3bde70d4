import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { MeteringCoreModule } from '../metering-core/index.js';
import { UsageModule } from '../metering/index.js';
import { RateLimitModule } from '../rate-limit/index.js';
import { TiersModule } from '../tiers/index.js';
import { VerifyService } from './verify.service.js';

/** The decision service behind the verify API: the guard chain's code, callable without a Nest request. */
@Module({
  imports: [ApiKeysModule, TiersModule, MeteringCoreModule, RateLimitModule, UsageModule],
  providers: [VerifyService],
  exports: [VerifyService],
})
export class VerifyModule {}
