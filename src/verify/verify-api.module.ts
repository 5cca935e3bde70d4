import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { AuthRequestCallerGuard, VerifierCheck, VerifyCallerGuard } from './verifier.guard.js';
import { VerifyController } from './verify.controller.js';
import { VerifyModule } from './verify.module.js';

/** `POST /v1/keys/verify` and nginx's `GET /v1/keys/verify/auth-request` (the service's API only, not mounted in a host app). */
@Module({
  imports: [VerifyModule, ApiKeysModule],
  providers: [VerifierCheck, VerifyCallerGuard, AuthRequestCallerGuard],
  controllers: [VerifyController],
})
export class VerifyApiModule {}
