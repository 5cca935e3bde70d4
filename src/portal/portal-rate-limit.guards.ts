import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { consumerOf } from '../api-keys/index.js';
import type { RatePolicy } from '../config/index.js';
import { TollgateConfig } from '../config/index.js';
import { clientAddressBucket } from '../rate-limit/index.js';
import { RateLimitService } from '../rate-limit/index.js';
import { portalSessionOf } from './portal-session.guard.js';

/**
 * The account routes' own budgets, apart from the tier's API budget (managing an account must not use up
 * the API, nor the other way round): the same store, algorithm, headers and 429 body as every limit.
 */
async function limit(context: ExecutionContext, rateLimits: RateLimitService, bucket: string, id: string, policy: RatePolicy): Promise<true> {
  const response = context.switchToHttp().getResponse<Response>();
  await rateLimits.enforce(response, { bucket, policies: [{ id, limit: policy.limit, windowMs: policy.windowSeconds * 1000 }], cost: 1 });
  return true;
}

/** `/v1/me/*`, after ApiKeyGuard: per customer (all of its keys share it). */
@Injectable()
export class MeRateLimitGuard implements CanActivate {
  constructor(
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const consumer = consumerOf(context.switchToHttp().getRequest<Request>());
    if (!consumer) return true;
    return limit(context, this.rateLimits, `me:${consumer.customerId}`, 'me', this.config.meRateLimit);
  }
}

/** `/portal/api/*` with a session, after PortalSessionGuard: per customer (all of its sessions share it). */
@Injectable()
export class PortalRateLimitGuard implements CanActivate {
  constructor(
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const session = portalSessionOf(context.switchToHttp().getRequest<Request>());
    if (!session) return true;
    return limit(context, this.rateLimits, `portal:${session.customerId}`, 'portal', this.config.portalRateLimit);
  }
}

/**
 * Portal sign-in calls, before any work (key lookup, link email, token redemption): per client address
 * (`request.ip`, which honours X-Forwarded-For only from the proxies `trust proxy` names; an IPv6 /64 counts as one).
 */
@Injectable()
export class PortalSignInRateLimitGuard implements CanActivate {
  constructor(
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const address = clientAddressBucket(context.switchToHttp().getRequest<Request>().ip);
    return limit(context, this.rateLimits, `portal-sign-in:${address}`, 'sign-in', this.config.portalSignInRateLimit);
  }
}
