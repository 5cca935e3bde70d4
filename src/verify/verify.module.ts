import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { MeteringCoreModule } from '../metering-core/index.js';
import { UsageModule } from '../metering/index.js';
import { RateLimitModule } from '../rate-limit/index.js';
import { TiersModule } from '../tiers/index.js';
import { AuthRequestCallerGuard, VerifierCheck, VerifyCallerGuard } from './verifier.guard.js';
import { VerifyController } from './verify.controller.js';
import { VerifyService } from './verify.service.js';

/** The decision service behind the verify API: the guard chain's code, callable without a Nest request. */
@Module({
  imports: [ApiKeysModule, TiersModule, MeteringCoreModule, RateLimitModule, UsageModule],
  providers: [VerifyService],
  exports: [VerifyService],
})
export class VerifyModule {}

/** `POST /v1/keys/verify` and nginx's `GET /v1/keys/verify/auth-request` (the service's API only, not mounted in a host app). */
@Module({
  imports: [VerifyModule, ApiKeysModule],
  providers: [VerifierCheck, VerifyCallerGuard, AuthRequestCallerGuard],
  controllers: [VerifyController],
})
export class VerifyApiModule {}
