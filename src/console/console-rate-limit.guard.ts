import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { TollgateConfig } from '../config/index.js';
import { clientAddressBucket, RateLimitService } from '../rate-limit/index.js';

/**
 * Console sign-in, before the token is compared: per client address, with the portal sign-in's policy
 * (RATE_LIMIT_PORTAL_SIGN_IN) in a bucket of its own, so guessing the admin token is as slow as guessing a key.
 */
@Injectable()
export class ConsoleSignInRateLimitGuard implements CanActivate {
  constructor(
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const address = clientAddressBucket(context.switchToHttp().getRequest<Request>().ip);
    const policy = this.config.portalSignInRateLimit;
    await this.rateLimits.enforce(context.switchToHttp().getResponse<Response>(), {
      bucket: `console-sign-in:${address}`,
      policies: [{ id: 'sign-in', limit: policy.limit, windowMs: policy.windowSeconds * 1000 }],
      cost: 1,
    });
    return true;
  }
}
