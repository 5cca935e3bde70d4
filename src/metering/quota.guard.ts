import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { consumerOf } from '../api-keys/index.js';
import { setRateLimitHeaders } from '../rate-limit/index.js';
import { RateLimitService } from '../rate-limit/index.js';
import { TiersService } from '../tiers/index.js';
import { CostResolver } from '../metering-core/index.js';
import { jsonQuantity, firstRunFor } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { applyErrorHeaders, InvalidIdempotencyKeyException, QuotaExceededException, RateLimiterUnavailableException, RateLimitExceededException, UsageLimitReachedException } from '../common/index.js';
import { attachTicket, IDEMPOTENCY_KEY, requestEventKey } from './metering.request.js';
import { MeteringMetadataAccessor } from '../metering-core/index.js';
import { secondsUntil, setQuotaHeaders } from './quota.headers.js';
import { QuotaService } from './quota.service.js';

/** Past its quota, a `throttle` customer keeps a tenth of its rate (at least 1 per minute). */
const THROTTLE_FRACTION = 10;

/**
 * Fourth guard, on `@Metered` routes: the monthly quota. Past it, `block` refuses with 429 quota_exceeded,
 * `throttle` slows the customer down, `overage` serves on (the overage is billed). It reserves the
 * request's cost so concurrent requests cannot all take the last unit. A retry (same Idempotency-Key) of a
 * request already recorded or in flight is served as the original was: no new cost, no refusal.
 */
const QUOTA_RESERVED = Symbol('quota reserved');

@Injectable()
export class QuotaGuard implements CanActivate {
  constructor(
    @Inject(QuotaService) private readonly quotas: QuotaService,
    @Inject(MeteringMetadataAccessor) private readonly metadata: MeteringMetadataAccessor,
    @Inject(CostResolver) private readonly costs: CostResolver,
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const metered = this.metadata.metered(context);
    const request = context.switchToHttp().getRequest<Request>();
    const consumer = consumerOf(request);
    if (!metered || !consumer) return true;
    // Applied globally and per controller, Nest runs this guard twice: the quota is reserved once.
    if (!firstRunFor(request, QUOTA_RESERVED)) return true;

    const header = request.header('idempotency-key');
    if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) {
      throw new InvalidIdempotencyKeyException();
    }
    const cost = this.costs.resolve(context, consumer);
    const eventKey = header === undefined ? null : requestEventKey(header);
    // Check and reservation in one step: concurrent requests cannot all take the last unit.
    const { state, over, refused, duplicate, release } = await this.quotas.admit(consumer, metered.meter, cost, eventKey);
    const response = context.switchToHttp().getResponse<Response>();
    const now = Date.now();
    setQuotaHeaders(response, state.included, state.used, state.period.end, now);

    if (refused) {
      // Nothing frees up before the period ends: say so, so clients do not retry in a loop.
      const retryAfter = secondsUntil(state.period.end, now);
      response.setHeader('Retry-After', retryAfter);
      const details = { meter: metered.meter, included: state.included, used: jsonQuantity(state.used), periodEnd: state.period.end.toISOString(), retryAfter };
      await this.throwQuotaException(
        context,
        refused === 'quota'
          ? new QuotaExceededException({ ...details, upgradeUrl: this.tiers.catalog.upgradeUrl })
          : new UsageLimitReachedException(
              `This request would take your ${metered.meter.replace(/_/g, ' ')} this period past the most one counter may hold (${this.config.maxCounterTotal}).`,
              { limit: jsonQuantity(this.config.maxCounterTotal), ...details },
            ),
      );
      return false;
    }
    if (over && state.policy === 'throttle') {
      try {
        await this.throttle(consumer.customerId, consumer.limits.rateLimits, cost, response);
      } catch (error) {
        release();
        if (error instanceof RateLimitExceededException || error instanceof RateLimiterUnavailableException) await this.throwQuotaException(context, error);
        throw error;
      }
    }

    attachTicket(request, {
      meter: metered.meter,
      cost,
      period: state.period,
      included: state.included,
      usedBefore: state.used,
      idempotencyKey: header ?? null,
      duplicate,
      release,
    });
    return true;
  }

  private async throttle(customerId: string, limits: Array<{ limit: number; windowSeconds: number }>, cost: number, response: Response) {
    const base = limits[0] ?? { limit: 60, windowSeconds: 60 };
    const policy = { id: 'quota-throttle', limit: Math.max(1, Math.floor(base.limit / THROTTLE_FRACTION)), windowMs: base.windowSeconds * 1000 };
    const outcome = await this.rateLimits.consume({ bucket: customerId, policies: [policy], cost });
    // A store fault decides as on every other limit: admitted in `open` mode, 503 in `closed` mode.
    if ('unavailable' in outcome) return this.rateLimits.failOver(response);
    if (outcome.decided.allowed) return;
    setRateLimitHeaders(response, outcome.decided);
    const retryAfter = Math.max(1, Math.ceil(outcome.decided.retryAfterMs / 1000));
    throw new RateLimitExceededException(
      { retryAfter, limit: policy.limit, windowSeconds: base.windowSeconds },
      `Your included quota is used up, so your rate is reduced to ${policy.limit} per ${base.windowSeconds} s; retry in ${retryAfter} s.`,
    );
  }

  /**
   * How a quota refusal leaves: 429 `quota_exceeded` / `usage_limit_reached`, or for a `throttle` customer past its
   * quota 429 `rate_limit_exceeded` (503 `rate_limiter_unavailable` on a closed-mode store fault). Override to change
   * the answer; it must throw.
   */
  protected async throwQuotaException(
    context: ExecutionContext,
    exception: QuotaExceededException | UsageLimitReachedException | RateLimitExceededException | RateLimiterUnavailableException,
  ): Promise<never> {
    applyErrorHeaders(exception, context.switchToHttp().getResponse<Response>());
    throw exception;
  }
}
