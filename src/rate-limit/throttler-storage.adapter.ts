import type { ThrottlerStorage } from '@nestjs/throttler';
import type { RateLimitStorage } from './rate-limit.storage.js';

interface ThrottlerStorageRecord {
  totalHits: number;
  timeToExpire: number;
  isBlocked: boolean;
  timeToBlockExpire: number;
}

/**
 * Lets @nestjs/throttler's own code path (anonymous callers on routes with @Throttle) use our store,
 * so the same GCRA and the same Redis back every limit.
 */
export class ThrottlerStorageAdapter implements ThrottlerStorage {
  constructor(private readonly storage: RateLimitStorage) {}

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const decision = await this.storage.consume({ bucket: `anon:${key}`, policies: [{ id: throttlerName, limit, windowMs: ttl }], cost: 1 });
    const [policy] = decision.policies;
    const seconds = Math.ceil(policy.resetMs / 1000);
    return {
      totalHits: decision.allowed ? limit - policy.remaining : limit + 1,
      timeToExpire: seconds,
      isBlocked: !decision.allowed,
      timeToBlockExpire: decision.allowed ? 0 : Math.max(1, Math.ceil(decision.retryAfterMs / 1000)),
    };
  }
}
