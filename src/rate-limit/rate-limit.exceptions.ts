import { HttpException, HttpStatus } from '@nestjs/common';
import { bindingPolicy, retryAfterSeconds } from './rate-limit.headers.js';
import type { PolicyState, RateLimitDecision } from './rate-limit.storage.js';

export interface RefusalWording {
  /** The sentence for the body's `message`; by default "Rate limit of N per W s exceeded; retry in S s." */
  message?: (policy: PolicyState, retryAfter: number) => string;
  /** More fields for the body (e.g. the tier and an upgrade URL). */
  details?: Record<string, unknown>;
}

/** 429 `rate_limit_exceeded`, the same body wherever a limit refuses; `retryAfter` equals the `Retry-After` header. */
export function rateLimitExceeded(decision: RateLimitDecision, wording: RefusalWording = {}): HttpException {
  const policy = bindingPolicy(decision);
  const retryAfter = retryAfterSeconds(decision);
  const windowSeconds = policy.windowMs / 1000;
  return new HttpException(
    {
      error: 'rate_limit_exceeded',
      message: wording.message?.(policy, retryAfter) ?? `Rate limit of ${policy.limit} per ${windowSeconds} s exceeded; retry in ${retryAfter} s.`,
      retryAfter,
      limit: policy.limit,
      windowSeconds,
      ...wording.details,
    },
    HttpStatus.TOO_MANY_REQUESTS,
  );
}

/** 503 `rate_limiter_unavailable` (failure mode `closed`, store faulted); whoever holds the response sets `Retry-After`. */
export class RateLimiterUnavailableException extends HttpException {
  constructor() {
    super({ error: 'rate_limiter_unavailable', message: 'Rate limiting is temporarily unavailable; retry shortly.' }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}

export function rateLimiterUnavailable(): RateLimiterUnavailableException {
  return new RateLimiterUnavailableException();
}
