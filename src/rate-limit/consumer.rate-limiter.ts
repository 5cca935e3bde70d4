import { Inject, Injectable } from '@nestjs/common';
import type { HeaderSink } from '../common/index.js';
import type { Consumer, KeyControls } from '../api-keys/index.js';
import type { RatePolicy } from '../config/index.js';
import { TiersService } from '../tiers/index.js';
import { RateLimitService } from './rate-limit.service.js';
import type { RateLimitPolicy } from './rate-limit.storage.js';

/**
 * The store policies of a limits list, built once per list: a cached consumer keeps its list, so a request
 * allocates no policy objects (and the store and headers can cache what they derive from the same array).
 */
const storePolicies = new WeakMap<ReadonlyArray<RatePolicy>, RateLimitPolicy[]>();

function policiesOf(limits: ReadonlyArray<RatePolicy>): RateLimitPolicy[] {
  let policies = storePolicies.get(limits);
  if (!policies) {
    policies = limits.map((policy) => ({ id: `w${policy.windowSeconds}`, limit: policy.limit, windowMs: policy.windowSeconds * 1000 }));
    storePolicies.set(limits, policies);
  }
  return policies;
}

/** A key's own limits after its customer's, built once per cached consumer (its controls object) and customer list. */
const keyPolicies = new WeakMap<KeyControls, { limits: ReadonlyArray<RatePolicy>; policies: RateLimitPolicy[] }>();

function consumerPolicies(consumer: Consumer): RateLimitPolicy[] {
  const own = policiesOf(consumer.limits.rateLimits);
  const controls = consumer.key.controls;
  if (controls.rateLimits.length === 0) return own;
  let cached = keyPolicies.get(controls);
  if (!cached || cached.limits !== consumer.limits.rateLimits) {
    // In the customer's bucket (one atomic call, all or nothing: both must pass), keyed by the key's id.
    const ofKey = controls.rateLimits.map((policy) => ({ id: `key:${consumer.key.id}:w${policy.windowSeconds}`, limit: policy.limit, windowMs: policy.windowSeconds * 1000 }));
    cached = { limits: consumer.limits.rateLimits, policies: [...own, ...ofKey] };
    keyPolicies.set(controls, cached);
  }
  return cached.policies;
}

/**
 * A consumer's rate limit, decided once for both doors (RateLimitGuard and the verify API): its tier's (or its own
 * overridden) policies, its key's own ones, plus any extra ones (a route's @Throttle), checked and charged in one call to the store,
 * weighted by the cost. Sets the rate-limit headers on `headers`; throws 429 `rate_limit_exceeded` (or 503
 * `rate_limiter_unavailable` on a closed-mode store fault) with its headers named on the exception.
 */
@Injectable()
export class ConsumerRateLimiter {
  constructor(
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(TiersService) private readonly tiers: TiersService,
  ) {}

  charge(headers: HeaderSink, consumer: Consumer, cost: number, extra: RateLimitPolicy[] = []): Promise<void> {
    const own = consumerPolicies(consumer);
    const policies = extra.length === 0 ? own : [...own, ...extra];
    if (policies.length === 0) return Promise.resolve();
    return this.rateLimits.enforce(headers, { bucket: consumer.customerId, policies, cost }, () => ({
      message: (policy, retryAfter) =>
        cost > policy.limit
          ? `This request costs ${cost} units, more than your limit of ${policy.limit} per ${policy.windowMs / 1000} s.`
          : `Rate limit of ${policy.limit} per ${policy.windowMs / 1000} s exceeded; retry in ${retryAfter} s.`,
      details: { tier: consumer.tier.name, upgradeUrl: this.tiers.catalog.upgradeUrl },
    }));
  }
}
