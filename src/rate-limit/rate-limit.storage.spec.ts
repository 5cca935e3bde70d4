import { Redis } from 'ioredis';
import { MemoryRateLimitStorage } from './memory-rate-limit.storage.js';
import { policyKeys, type RateLimitStorage } from './rate-limit.storage.js';
import { RedisRateLimitStorage } from './redis-rate-limit.storage.js';

/** The same contract for both stores: Redis when REDIS_URL is set (CI), memory always. */
const redisUrl = process.env.REDIS_URL;
const stores: Array<[string, () => { storage: RateLimitStorage; ready(): Promise<void>; close(): void }]> = [
  ['memory', () => ({ storage: new MemoryRateLimitStorage(), ready: async () => undefined, close: () => undefined })],
];
if (redisUrl) {
  stores.push([
    'redis',
    () => {
      const redis = new Redis(redisUrl);
      const storage = new RedisRateLimitStorage(redis, `test:${Math.random().toString(36).slice(2)}`);
      return {
        storage,
        ready: () => storage.onModuleInit(),
        close: () => {
          storage.close();
          redis.disconnect();
        },
      };
    },
  ]);
}

describe.each(stores)('%s rate-limit storage', (_name, create) => {
  let store: ReturnType<typeof create>;
  beforeEach(async () => {
    store = create();
    await store.ready();
  });
  afterEach(() => store.close());

  const perMinute = (limit: number) => [{ id: 'w60', limit, windowMs: 60_000 }];

  it('admits exactly the limit under 100 concurrent requests', async () => {
    const decisions = await Promise.all(
      Array.from({ length: 100 }, () => store.storage.consume({ bucket: 'cus_a', policies: perMinute(10), cost: 1 })),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    const refused = decisions.find((d) => !d.allowed)!;
    expect(refused.retryAfterMs).toBeGreaterThan(5_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(6_000);
    // The refusing policy's reset is the request's retry-after: the headers derived from both agree.
    expect(refused.policies[0]).toMatchObject({ id: 'w60', limit: 10, remaining: 0, resetMs: refused.retryAfterMs, refused: true });
  });

  it('keeps buckets apart and reports remaining and reset', async () => {
    const first = await store.storage.consume({ bucket: 'cus_b', policies: perMinute(10), cost: 3 });
    expect(first.allowed).toBe(true);
    expect(first.policies[0].remaining).toBe(7);
    // Until the next unit comes back (one every 6 s), not until the whole budget is.
    expect(first.policies[0].resetMs).toBeGreaterThan(5_000);
    expect(first.policies[0].resetMs).toBeLessThanOrEqual(6_000);
    expect(first.policies[0].refused).toBe(false);
    const other = await store.storage.consume({ bucket: 'cus_c', policies: perMinute(10), cost: 1 });
    expect(other.policies[0].remaining).toBe(9);
  });

  it('charges all policies or none', async () => {
    const policies = [
      { id: 'w1', limit: 1, windowMs: 1_000 },
      { id: 'w60', limit: 5, windowMs: 60_000 },
    ];
    expect((await store.storage.consume({ bucket: 'cus_d', policies, cost: 1 })).allowed).toBe(true);
    const refused = await store.storage.consume({ bucket: 'cus_d', policies, cost: 1 });
    expect(refused.allowed).toBe(false);
    expect(refused.policies[1].remaining).toBe(4);
    expect(refused.policies.map((policy) => policy.refused)).toEqual([true, false]);
  });

  it('refuses a cost above the limit without charging', async () => {
    const refused = await store.storage.consume({ bucket: 'cus_e', policies: perMinute(10), cost: 11 });
    expect(refused.allowed).toBe(false);
    const next = await store.storage.consume({ bucket: 'cus_e', policies: perMinute(10), cost: 10 });
    expect(next.allowed).toBe(true);
  });
});

describe('memory rate-limit storage housekeeping', () => {
  it('drops entries whose budget is whole again, without timers', async () => {
    let now = 0;
    const storage = new MemoryRateLimitStorage(() => now);
    for (let i = 0; i < 1000; i++) await storage.consume({ bucket: `cus_${i}`, policies: [{ id: 'w1', limit: 5, windowMs: 1_000 }], cost: 1 });
    expect(storage.size).toBe(1000);
    now = 10_000;
    for (let i = 0; i < 200; i++) await storage.consume({ bucket: 'busy', policies: [{ id: 'w1', limit: 1_000_000, windowMs: 1_000 }], cost: 1 });
    expect(storage.size).toBeLessThan(10);
  });
});

describe('policyKeys', () => {
  it('derives the keys once per policies list and base, and again for another base', () => {
    const policies = [
      { id: 'w60', limit: 10, windowMs: 60_000 },
      { id: 'w3600', limit: 100, windowMs: 3_600_000 },
    ];
    const first = policyKeys('cus_a', ':', policies);
    expect(first).toEqual(['cus_a:w60', 'cus_a:w3600']);
    expect(policyKeys('cus_a', ':', policies)).toBe(first);
    expect(policyKeys('cus_b', ':', policies)).toEqual(['cus_b:w60', 'cus_b:w3600']);
    expect(policyKeys('cus_a', ':', policies)).toEqual(first);
  });
});
