import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
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
    service = await startTestApp(database, { imports: [RateLimitProbeModule] });
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
    expect(refused.body).toMatchObject({ error: 'rate_limit_exceeded', limit: 10, windowSeconds: 60, tier: 'free' });
    expect(refused.body.message).toEqual(expect.any(String));
    // The next unit comes back 6 s after the burst (less if answering the burst took a while).
    const wait = refused.body.retryAfter;
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(6);
    // Every header a client might follow says the same wait.
    expect(refused.headers.get('retry-after')).toBe(String(wait));
    expect(refused.headers.get('x-ratelimit-reset')).toBe(String(wait));
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('ratelimit')).toBe(`"w60";r=0;t=${wait}`);
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
