import { Inject, Injectable } from '@nestjs/common';
import type { Consumer } from '../api-keys/index.js';
import { type HeaderSink, jsonQuantity, QuotaExceededException, RateLimiterUnavailableException, RateLimitExceededException, UsageLimitReachedException } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { RateLimitService, setRateLimitHeaders } from '../rate-limit/index.js';
import { TiersService } from '../tiers/index.js';
import type { MeteringTicket } from './metering.request.js';
import { secondsUntil, setQuotaHeaders } from './quota.headers.js';
import { type Admission, QuotaService } from './quota.service.js';

/** Past its quota, a `throttle` customer keeps a tenth of its rate (at least 1 per minute). */
const THROTTLE_FRACTION = 10;

/** What a quota refusal is thrown as (its headers named on the exception). */
export type QuotaRefusal = QuotaExceededException | UsageLimitReachedException | RateLimitExceededException | RateLimiterUnavailableException;

export function isQuotaRefusal(error: unknown): error is QuotaRefusal {
  return (
    error instanceof QuotaExceededException ||
    error instanceof UsageLimitReachedException ||
    error instanceof RateLimitExceededException ||
    error instanceof RateLimiterUnavailableException
  );
}

/**
 * The monthly quota of one request, decided once for both doors (QuotaGuard and the verify API). Past it, `block`
 * refuses with 429 quota_exceeded, `throttle` slows the customer down, `overage` serves on (the overage is billed).
 * The request's cost is reserved so concurrent requests cannot all take the last unit. A retry (same idempotency
 * key) of a request already recorded or in flight is admitted as the original was: no new cost, no refusal.
 * Sets the X-Quota headers; throws a `QuotaRefusal`.
 */
@Injectable()
export class QuotaAdmission {
  constructor(
    @Inject(QuotaService) private readonly quotas: QuotaService,
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  /** The ticket the recording needs (its `release` ends the reservation: call it once, recorded or not). */
  async admit(headers: HeaderSink, consumer: Consumer, meter: string, cost: number, idempotencyKey: string | null, eventKey: string | null): Promise<MeteringTicket> {
    return this.admitNow(headers, consumer, meter, cost, idempotencyKey, eventKey);
  }

  /** As `admit`, synchronous when the quota decides without I/O (a fresh total, no throttling): most requests. */
  admitNow(headers: HeaderSink, consumer: Consumer, meter: string, cost: number, idempotencyKey: string | null, eventKey: string | null): MeteringTicket | Promise<MeteringTicket> {
    // Check and reservation in one step: concurrent requests cannot all take the last unit.
    const admission = this.quotas.admitNow(consumer, meter, cost, eventKey);
    return admission instanceof Promise
      ? admission.then((settled) => this.ticketFor(settled, headers, consumer, meter, cost, idempotencyKey))
      : this.ticketFor(admission, headers, consumer, meter, cost, idempotencyKey);
  }

  private ticketFor(admission: Admission, headers: HeaderSink, consumer: Consumer, meter: string, cost: number, idempotencyKey: string | null): MeteringTicket | Promise<MeteringTicket> {
    const { state, over, refused, duplicate, release } = admission;
    const now = Date.now();
    setQuotaHeaders(headers, state.included, state.used, state.period.end, now);

    if (refused) {
      // Nothing frees up before the period ends: say so, so clients do not retry in a loop.
      const retryAfter = secondsUntil(state.period.end, now);
      headers.setHeader('Retry-After', retryAfter);
      const details = { meter, included: state.included, used: jsonQuantity(state.used), periodEnd: state.period.end.toISOString(), retryAfter };
      throw refused === 'quota'
        ? new QuotaExceededException({ ...details, upgradeUrl: this.tiers.catalog.upgradeUrl })
        : new UsageLimitReachedException(
            `This request would take your ${meter.replace(/_/g, ' ')} this period past the most one counter may hold (${this.config.maxCounterTotal}).`,
            { limit: jsonQuantity(this.config.maxCounterTotal), ...details },
          );
    }
    const ticket: MeteringTicket = { meter, cost, period: state.period, included: state.included, usedBefore: state.used, idempotencyKey, duplicate, release };
    if (!over || state.policy !== 'throttle') return ticket;
    return this.throttle(consumer.customerId, consumer.limits.rateLimits, cost, headers).then(
      () => ticket,
      (error: unknown) => {
        release();
        throw error;
      },
    );
  }

  private async throttle(customerId: string, limits: Array<{ limit: number; windowSeconds: number }>, cost: number, headers: HeaderSink) {
    const base = limits[0] ?? { limit: 60, windowSeconds: 60 };
    const policy = { id: 'quota-throttle', limit: Math.max(1, Math.floor(base.limit / THROTTLE_FRACTION)), windowMs: base.windowSeconds * 1000 };
    const outcome = await this.rateLimits.consume({ bucket: customerId, policies: [policy], cost });
    // A store fault decides as on every other limit: admitted in `open` mode, 503 in `closed` mode.
    if ('unavailable' in outcome) return this.rateLimits.failOver(headers);
    if (outcome.decided.allowed) return;
    setRateLimitHeaders(headers, outcome.decided);
    const retryAfter = Math.max(1, Math.ceil(outcome.decided.retryAfterMs / 1000));
    throw new RateLimitExceededException(
      { retryAfter, limit: policy.limit, windowSeconds: base.windowSeconds },
      `Your included quota is used up, so your rate is reduced to ${policy.limit} per ${base.windowSeconds} s; retry in ${retryAfter} s.`,
    );
  }
}
