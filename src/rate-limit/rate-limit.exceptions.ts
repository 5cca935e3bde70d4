import { RateLimiterUnavailableException, RateLimitExceededException } from '../common/index.js';
import { bindingPolicy, retryAfterSeconds } from './rate-limit.headers.js';
import type { PolicyState, RateLimitDecision } from './rate-limit.storage.js';

export { RateLimiterUnavailableException };

export interface RefusalWording {
  /** The sentence for the body's `message`; by default "Rate limit of N per W s exceeded; retry in S s." */
  message?: (policy: PolicyState, retryAfter: number) => string;
  /** More fields for the body (e.g. the tier and an upgrade URL). */
  details?: Record<string, unknown>;
}

/** 429 `rate_limit_exceeded`, the same body wherever a limit refuses; `retryAfter` equals the `Retry-After` header. */
export function rateLimitExceeded(decision: RateLimitDecision, wording: RefusalWording = {}): RateLimitExceededException {
  const policy = bindingPolicy(decision);
  const retryAfter = retryAfterSeconds(decision);
  const windowSeconds = policy.windowMs / 1000;
  return new RateLimitExceededException({ retryAfter, limit: policy.limit, windowSeconds, ...wording.details }, wording.message?.(policy, retryAfter));
}

export function rateLimiterUnavailable(): RateLimiterUnavailableException {
  return new RateLimiterUnavailableException();
}
