import { jest } from '@jest/globals';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { SkipThrottle, Throttle } from '@nestjs/throttler';
import { Metered, Public, TOLLGATE_GUARDS } from 'tollgate';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { RateLimitService } from '../../src/rate-limit/rate-limit.service.js';
import { RateLimitStorage } from '../../src/rate-limit/rate-limit.storage.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { until } from '../support/wait.js';
import { RateLimitProbeModule } from './rate-limit-probe.module.js';

// Product defaults: how long an unanswered store call takes to count as a fault, and how many open the breaker.
const { rateLimitStoreTimeoutMs: STORE_TIMEOUT_MS, rateLimitBreakerFaults: BREAKER_FAULTS } = new TollgateConfig();
const WAVE = 5;
// "Does not hang": far below any client's patience, far above a loaded CI box's scheduling noise.
const NO_HANG_MS = STORE_TIMEOUT_MS + 5_000;

/** Routes that reach the store by the other two paths: @nestjs/throttler's anonymous one, and the quota throttle. */
@UseGuards(...TOLLGATE_GUARDS)
@Controller('v1/basic')
class OtherPathsController {
  // No API key: @nestjs/throttler's own path, per client address, through the storage adapter.
  @Get('anonymous')
  @Public()
  @Throttle({ default: { limit: 100, ttl: 60_000 } })
  anonymous() {
    return { ok: true };
  }

  // No tier rate limit: past its quota a `throttle` customer meets the quota throttle alone.
  @Get('quota-throttled')
  @SkipThrottle()
  @Metered('api_calls')
  quotaThrottled() {
    return { ok: true };
  }
}

@Module({ controllers: [OtherPathsController] })
class OtherPathsModule {}

/**
 * A real store fault, on a private redis-server (the shared one is never touched), at default settings:
 * a killed Redis (the client is not connected) and a frozen one (SIGSTOP: connected, silent). Requests are
 * decided by the failure mode without hanging, and once Redis is back the breaker closes and limits are exact.
 */
describe('when the Redis behind the rate limits fails', () => {
  let database: TestDatabase;
  let redis: PrivateRedis;
  let failOpen: TestApp;
  let failClosed: TestApp;
  let secret: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await startPrivateRedis();
    const config = testConfig(database, { redisUrl: redis.url });
    failOpen = await startTestApp(database, { config, imports: [RateLimitProbeModule, OtherPathsModule] });
    // Same Redis keys: one budget across both instances.
    failClosed = await startTestApp(database, {
      config: testConfig(database, { redisUrl: redis.url, redisPrefix: config.redisPrefix, rateLimitFailureMode: 'closed' }),
      imports: [RateLimitProbeModule, OtherPathsModule],
    });
    secret = (await new AdminClient(failOpen.url).customerWithKey('free')).secret;
  });

  afterAll(async () => {
    await failClosed.close();
    await failOpen.close();
    await redis.stop();
    await database.dispose();
  });

  const breaker = (instance: TestApp) => instance.app.get(RateLimitService).breakerState;
  const store = (instance: TestApp) => instance.app.get<symbol, RateLimitStorage>(RateLimitStorage);
  /** Counts the calls that reach each instance's store while `run` runs. */
  async function storeCalls<T>(run: () => Promise<T>): Promise<{ result: T; open: number; closed: number }> {
    const spies = [jest.spyOn(store(failOpen), 'consume'), jest.spyOn(store(failClosed), 'consume')];
    try {
      const result = await run();
      return { result, open: spies[0].mock.calls.length, closed: spies[1].mock.calls.length };
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  }

  async function timed(instance: TestApp, apiKey = secret) {
    const started = performance.now();
    const response = await call('GET', `${instance.url}/v1/basic/rl`, { apiKey });
    return { ...response, ms: performance.now() - started };
  }

  /** Concurrent requests to both instances. */
  async function wave() {
    const [open, closed] = await Promise.all([
      Promise.all(Array.from({ length: WAVE }, () => timed(failOpen))),
      Promise.all(Array.from({ length: WAVE }, () => timed(failClosed))),
    ]);
    return { open, closed };
  }

  function expectFailureModes({ open, closed }: Awaited<ReturnType<typeof wave>>) {
    for (const response of open) {
      expect(response.status).toBe(200);
      expect(response.headers.get('x-ratelimit-limit')).toBeNull();
    }
    for (const response of closed) {
      expect(response.status).toBe(503);
      expect(response.body.error).toBe('rate_limiter_unavailable');
      expect(response.headers.get('retry-after')).toBe('1');
    }
  }

  async function expectExactAgain() {
    // Both instances decide from Redis again: headers are back, and a fresh customer gets exactly its 10.
    await until(async () => (await timed(failOpen)).headers.get('x-ratelimit-limit') === '10' && (await timed(failClosed)).status !== 503, 10_000);
    expect(breaker(failOpen)).toBe('closed');
    expect(breaker(failClosed)).toBe('closed');
    const fresh = (await new AdminClient(failOpen.url).customerWithKey('free')).secret;
    const responses = await Promise.all(Array.from({ length: 30 }, (_, i) => timed(i % 2 ? failOpen : failClosed, fresh)));
    expect(responses.filter((response) => response.status === 200)).toHaveLength(10);
    expect(responses.filter((response) => response.status === 429)).toHaveLength(20);
  }

  it('frozen: waits at most the store timeout, then the breaker answers without asking; closes again when Redis answers', async () => {
    expect((await timed(failOpen)).headers.get('x-ratelimit-limit')).toBe('10');
    expect((await timed(failClosed)).headers.get('x-ratelimit-limit')).toBe('10');

    redis.freeze();
    try {
      // Connected but silent: these calls wait for the store (a late answer would still decide), up to its timeout.
      const first = await wave();
      expectFailureModes(first);
      for (const response of [...first.open, ...first.closed]) {
        expect(response.ms).toBeGreaterThanOrEqual(STORE_TIMEOUT_MS - 5);
        expect(response.ms).toBeLessThan(NO_HANG_MS);
      }
      expect(WAVE).toBeGreaterThanOrEqual(BREAKER_FAULTS);
      expect(breaker(failOpen)).not.toBe('closed');
      expect(breaker(failClosed)).not.toBe('closed');

      // Breaker open: requests do not ask the store (its probe is a background ping), so nothing waits for it.
      const second = await storeCalls(wave);
      expectFailureModes(second.result);
      expect(second.open).toBe(0);
      expect(second.closed).toBe(0);
      for (const response of [...second.result.open, ...second.result.closed]) expect(response.ms).toBeLessThan(NO_HANG_MS);
    } finally {
      redis.thaw();
    }
    await expectExactAgain();
  });

  it('killed: the client is not connected, so no request waits for the store; after a restart limits are exact again', async () => {
    await redis.kill();
    // The connection drop reaches the clients (a request racing it fails at once on the closed socket).
    await until(() => !store(failOpen).available!() && !store(failClosed).available!(), NO_HANG_MS);
    for (let round = 0; round < 2; round++) {
      const answered = await storeCalls(wave);
      expectFailureModes(answered.result);
      expect(answered.open + answered.closed).toBe(0);
      for (const response of [...answered.result.open, ...answered.result.closed]) expect(response.ms).toBeLessThan(NO_HANG_MS);
    }
    await redis.restart();
    await expectExactAgain();
  });

  it('every path to the store fails the same way: the anonymous @Throttle and the quota throttle too (503 + Retry-After when closed)', async () => {
    const admin = new AdminClient(failOpen.url);
    // Past its one included call, with the `throttle` policy: every further call goes through the quota throttle.
    const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 1, rateLimit: ['1000/min'], onQuotaExceeded: 'throttle' } });
    const { secret: throttled } = await admin.createKey(customer.id);
    for (const instance of [failOpen, failClosed, failOpen]) {
      expect((await call('GET', `${instance.url}/v1/basic/quota-throttled`, { apiKey: throttled })).status).toBe(200);
    }
    expect((await call('GET', `${failClosed.url}/v1/basic/anonymous`)).status).toBe(200);

    await redis.kill();
    try {
      await until(() => !store(failOpen).available!() && !store(failClosed).available!(), NO_HANG_MS);
      for (const [path, apiKey] of [
        ['/v1/basic/anonymous', undefined],
        ['/v1/basic/quota-throttled', throttled],
      ]) {
        const open = await call('GET', `${failOpen.url}${path}`, { apiKey });
        const closed = await call('GET', `${failClosed.url}${path}`, { apiKey });
        expect({ path, open: open.status }).toEqual({ path, open: 200 });
        expect({ path, closed: closed.status, error: closed.body.error, retryAfter: closed.headers.get('retry-after') }).toEqual({
          path,
          closed: 503,
          error: 'rate_limiter_unavailable',
          retryAfter: '1',
        });
      }
    } finally {
      await redis.restart();
    }
    await until(() => store(failOpen).available!() && store(failClosed).available!(), NO_HANG_MS);
  });
});
