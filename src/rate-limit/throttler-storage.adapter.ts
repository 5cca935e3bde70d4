import type { ThrottlerStorage } from '@nestjs/throttler';
import { rateLimiterUnavailable } from './rate-limit.exceptions.js';
import type { RateLimitService } from './rate-limit.service.js';

interface ThrottlerStorageRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

/**
 * Lets @nestjs/throttler's own code path (anonymous callers on routes with @Throttle) use our store,
 * so the same GCRA, the same Redis and the same fault handling back every limit.
 */
export class ThrottlerStorageAdapter implements ThrottlerStorage {
  constructor(private readonly rateLimits: RateLimitService) {}

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const outcome = await this.rateLimits.consume({ bucket: `anon:${key}`, policies: [{ id: throttlerName, limit, windowMs: ttl }], cost: 1 });
    if ('unavailable' in outcome) {
      if (this.rateLimits.failureMode === 'closed') throw rateLimiterUnavailable();
      return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
    }
    const decision = outcome.decided;
    const [policy] = decision.policies;
    // Refused: Reset and Retry-After are the same wait (see rate-limit.headers.ts).
    const wait = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    return {
      totalHits: decision.allowed ? limit - policy.remaining : limit + 1,
      timeToExpire: decision.allowed ? Math.ceil(policy.resetMs / 1000) : wait,
      isBlocked: !decision.allowed,
      timeToBlockExpire: decision.allowed ? 0 : wait,
    };
  }
}
