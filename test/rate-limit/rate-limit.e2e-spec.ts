import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { RateLimitProbeModule } from './rate-limit-probe.module.js';
import { sleep } from '../support/wait.js';


async function enterpriseKey(admin: AdminClient, rateLimit: string[]): Promise<string> {
  const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 1_000_000, rateLimit } });
  return (await admin.createKey(customer.id)).secret;
}

describe(`rate limits on one instance (${process.env.REDIS_URL ? 'Redis' : 'in-memory store'})`, () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  const get = (path: string, apiKey: string) => call('GET', `${service.url}${path}`, { apiKey });

  beforeAll(async () => {
    database = await createTestDatabase();
    // Exactness, not the failure mode, is under test: give a CPU-starved CI run more than 50 ms before failing open.
    service = await startTestApp(database, { config: testConfig(database, { rateLimitTimeoutMs: 2000 }), imports: [RateLimitProbeModule] });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it('sends the limit headers on every limited response', async () => {
    const { secret } = await admin.customerWithKey('free');
    const response = await get('/v1/basic/rl', secret);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ratelimit-limit')).toBe('10');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('9');
    expect(Number(response.headers.get('x-ratelimit-reset'))).toBe(6);
    expect(response.headers.get('ratelimit-policy')).toBe('"w60";q=10;w=60');
    expect(response.headers.get('ratelimit')).toBe('"w60";r=9;t=6');
  });

  it('lets exactly 10 of 100 concurrent requests through a 10/min limit', async () => {
    const { secret } = await admin.customerWithKey('free');
    const responses = await Promise.all(Array.from({ length: 100 }, () => get('/v1/basic/rl', secret)));
    const statuses = responses.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(90);
    const refused = responses.find((response) => response.status === 429)!;
    expect(refused.body).toMatchObject({ error: 'rate_limit_exceeded', retryAfter: 6, limit: 10, windowSeconds: 60, tier: 'free' });
    expect(refused.body.message).toEqual(expect.any(String));
    expect(refused.headers.get('retry-after')).toBe('6');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('ratelimit')).toMatch(/^"w60";r=0;t=\d+$/);
  });

  it('shares one budget between all keys of a customer', async () => {
    const customer = await admin.createCustomer('free');
    const keys = await Promise.all(Array.from({ length: 4 }, () => admin.createKey(customer.id)));
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => get('/v1/basic/rl', keys[i % 4].secret)));
    expect(responses.filter((response) => response.status === 200)).toHaveLength(10);
  });

  it('admits a client that waits Retry-After seconds', async () => {
    const secret = await enterpriseKey(admin, ['2/s']);
    expect((await get('/v1/basic/rl', secret)).status).toBe(200);
    expect((await get('/v1/basic/rl', secret)).status).toBe(200);
    const refused = await get('/v1/basic/rl', secret);
    expect(refused.status).toBe(429);
    const wait = Number(refused.headers.get('retry-after'));
    expect(wait).toBe(1);
    await sleep(wait * 1000);
    expect((await get('/v1/basic/rl', secret)).status).toBe(200);
  });

  it('slides: capacity returns gradually as the window moves', async () => {
    const secret = await enterpriseKey(admin, ['4/2s']);
    const burst = await Promise.all(Array.from({ length: 6 }, () => get('/v1/basic/rl', secret)));
    expect(burst.filter((response) => response.status === 200)).toHaveLength(4);
    await sleep(600);
    // One 500 ms slot has come back, not the whole window.
    expect((await get('/v1/basic/rl', secret)).status).toBe(200);
    expect((await get('/v1/basic/rl', secret)).status).toBe(429);
    await sleep(2100);
    const after = await Promise.all(Array.from({ length: 5 }, () => get('/v1/basic/rl', secret)));
    expect(after.filter((response) => response.status === 200)).toHaveLength(4);
  });

  it('weighs requests by their cost', async () => {
    const { secret } = await admin.customerWithKey('free');
    const first = await get('/v1/basic/costly', secret);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-remaining')).toBe('5');
    expect((await get('/v1/basic/costly', secret)).status).toBe(200);
    expect((await get('/v1/basic/costly', secret)).status).toBe(429);
    // A cheap request no longer fits either: the expensive ones used the shared budget.
    expect((await get('/v1/basic/rl', secret)).status).toBe(429);
  });

  it('keeps @SkipThrottle and @Throttle working', async () => {
    const { secret } = await admin.customerWithKey('free');
    const skipped = await Promise.all(Array.from({ length: 15 }, () => get('/v1/basic/skip', secret)));
    expect(skipped.every((response) => response.status === 200)).toBe(true);
    expect(skipped[0].headers.get('x-ratelimit-limit')).toBeNull();

    const throttled = await Promise.all(Array.from({ length: 5 }, () => get('/v1/basic/throttled', secret)));
    expect(throttled.filter((response) => response.status === 200)).toHaveLength(2);
    expect(throttled.find((response) => response.status === 429)!.body.limit).toBe(2);
    // The route's own limit came on top of the tier's: the tier budget still has room elsewhere.
    expect((await get('/v1/basic/rl', secret)).status).toBe(200);
  });
});

describe('rate limits across two instances sharing Redis', () => {
  let database: TestDatabase;
  let privateRedis: PrivateRedis | null = null;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    if (!process.env.REDIS_URL) privateRedis = await startPrivateRedis();
    const redisUrl = process.env.REDIS_URL ?? privateRedis!.url;
    const config = testConfig(database, { redisUrl, rateLimitTimeoutMs: 2000 });
    first = await startTestApp(database, { config, imports: [RateLimitProbeModule] });
    second = await startTestApp(database, { config: testConfig(database, { redisUrl, redisPrefix: config.redisPrefix, rateLimitTimeoutMs: 2000 }), imports: [RateLimitProbeModule] });
  });

  afterAll(async () => {
    await second.close();
    await first.close();
    await privateRedis?.stop();
    await database.dispose();
  });

  it('lets exactly 10 of 100 concurrent requests through, split over both instances', async () => {
    const { secret } = await new AdminClient(first.url).customerWithKey('free');
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => call('GET', `${(i % 2 ? first : second).url}/v1/basic/rl`, { apiKey: secret })),
    );
    expect(responses.filter((response) => response.status === 200)).toHaveLength(10);
    expect(responses.filter((response) => response.status === 429)).toHaveLength(90);
  });
});

describe('when Redis fails', () => {
  let database: TestDatabase;
  let redis: PrivateRedis;
  let failOpen: TestApp;
  let failClosed: TestApp;
  let secret: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await startPrivateRedis();
    failOpen = await startTestApp(database, { config: testConfig(database, { redisUrl: redis.url }), imports: [RateLimitProbeModule] });
    failClosed = await startTestApp(database, {
      config: testConfig(database, { redisUrl: redis.url, rateLimitFailureMode: 'closed' }),
      imports: [RateLimitProbeModule],
    });
    secret = (await new AdminClient(failOpen.url).customerWithKey('free')).secret;
  });

  afterAll(async () => {
    await failClosed.close();
    await failOpen.close();
    await redis.stop();
    await database.dispose();
  });

  async function timed(instance: TestApp) {
    const started = performance.now();
    const response = await call('GET', `${instance.url}/v1/basic/rl`, { apiKey: secret });
    return { ...response, ms: performance.now() - started };
  }

  it('decides quickly either way: fail-open admits, fail-closed answers 503; never a hang or a 500', async () => {
    expect((await timed(failOpen)).status).toBe(200);
    expect((await timed(failClosed)).headers.get('x-ratelimit-limit')).toBe('10');

    // A hung Redis: connected, silent.
    redis.freeze();
    try {
      for (let i = 0; i < 3; i++) {
        const open = await timed(failOpen);
        expect(open.status).toBe(200);
        expect(open.headers.get('x-ratelimit-limit')).toBeNull();
        expect(open.ms).toBeLessThan(250);
        const closed = await timed(failClosed);
        expect(closed.status).toBe(503);
        expect(closed.body.error).toBe('rate_limiter_unavailable');
        expect(closed.headers.get('retry-after')).toBe('1');
        expect(closed.ms).toBeLessThan(250);
      }
    } finally {
      redis.thaw();
    }

    // A dead Redis: the process is gone mid-run.
    await redis.kill();
    for (let i = 0; i < 3; i++) {
      const open = await timed(failOpen);
      expect(open.status).toBe(200);
      expect(open.ms).toBeLessThan(250);
      const closed = await timed(failClosed);
      expect(closed.status).toBe(503);
      expect(closed.ms).toBeLessThan(250);
    }
  });
});
