import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTollgateClient, TollgateApiError, type RetryEvent, type TollgateClient } from 'tollgate/client';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { checkedFetch } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../support/test-app.js';

/**
 * `tollgate/client` against the real service over HTTP, as a service that is not Nest would use it. Every answer it
 * gets goes through the OpenAPI contract check (checkedFetch).
 */
describe('tollgate/client against the service', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: TollgateClient;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database);
    admin = createTollgateClient({ baseUrl: service.url, adminToken: TEST_ADMIN_TOKEN, fetch: checkedFetch as typeof fetch });
  });
  afterAll(async () => {
    await service?.close();
    await database?.dispose();
  });

  it('creates a customer and a key, verifies a request, ingests usage and reads it back', async () => {
    const customer = await admin.customers.create({ name: 'Acme', tier: 'pro', email: 'ops@acme.test' });
    expect(customer).toMatchObject({ name: 'Acme', tier: 'pro', status: 'active' });
    expect(await admin.customers.get(customer.id)).toMatchObject({ id: customer.id, email: 'ops@acme.test' });

    const issued = await admin.keys.create(customer.id, { name: 'production' });
    expect(issued.secret).toMatch(/^tg_live_/);
    expect((await admin.keys.list(customer.id)).data.map((key) => key.id)).toEqual([issued.key.id]);

    const verdict = await admin.verify({ key: issued.secret, path: '/v1/reports', method: 'GET', idempotencyKey: 'req-1' });
    expect(verdict).toMatchObject({ valid: true, code: 'ok', customerId: customer.id, tier: 'pro' });
    expect(verdict.headers['X-Quota-Limit']).toBe('50000');
    // A refusal is a decision, not an error.
    const refusal = await admin.verify({ key: 'tg_live_not-a-key', path: '/v1/reports', method: 'GET' });
    expect(refusal).toMatchObject({ valid: false, code: 'invalid_api_key', status: 401 });

    const ingested = await admin.ingest([
      { customerId: customer.id, meter: 'api_calls', quantity: 3, idempotencyKey: 'job-42' },
      { customerId: customer.id, meter: 'api_calls', quantity: 3, idempotencyKey: 'job-42' },
    ]);
    expect(ingested).toMatchObject({ accepted: 1, duplicates: 1, rejected: 0 });

    const usage = await admin.usage(customer.id, { period: 'current' });
    const calls = usage.meters.find((meter) => meter.meter === 'api_calls');
    // 1 verified request + 3 ingested units (the duplicate counted once).
    expect(calls).toMatchObject({ total: 4, included: 50000 });

    const updated = await admin.customers.update(customer.id, { tier: 'free' });
    expect(updated.tier).toBe('free');
    expect((await admin.customers.list({ tier: 'free', limit: 10 })).data.map((listed) => listed.id)).toContain(customer.id);
    const rotated = await admin.keys.rotate(customer.id, issued.key.id, { gracePeriodSeconds: 60 });
    expect(rotated.secret).not.toBe(issued.secret);
    expect(await admin.keys.revoke(customer.id, issued.key.id)).toMatchObject({ id: issued.key.id, status: 'revoked' });
  });

  it('throws a TollgateApiError with the code, message and headers of a refusal', async () => {
    const error = await admin.customers.get('cus_doesnotexist').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TollgateApiError);
    expect(error).toMatchObject({ status: 404, code: 'customer_not_found', requestId: expect.any(String) });
    const wrong = createTollgateClient({ baseUrl: service.url, adminToken: 'wrong-token', fetch: checkedFetch as typeof fetch });
    const unauthorized = (await wrong.customers.list().catch((caught: unknown) => caught)) as TollgateApiError;
    expect(unauthorized).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(unauthorized.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('runs the example (examples/client/main.ts, built: `npm run build` first) against the service', async () => {
    const example = fileURLToPath(new URL('../../dist/examples/client/main.js', import.meta.url));
    expect(existsSync(example)).toBe(true);
    // Only what the README's command gives it; it resolves `tollgate/client` through the package's exports.
    const { stdout } = await promisify(execFile)(process.execPath, [example], { env: { PATH: process.env.PATH, TOLLGATE_URL: service.url, ADMIN_TOKEN: TEST_ADMIN_TOKEN }, timeout: 20_000 });
    expect(stdout.trim().split('\n').map((line) => line.replace(/cus_\w+|tg_live_\w+/g, '…'))).toEqual([
      'customer … on pro, key ……',
      'verify: serve it (quota left 49999)',
      'verify an unknown key: refuse it, 401 invalid_api_key',
      'ingest: 1 accepted, 0 duplicate(s)',
      'usage: api_calls 26 of 50000',
      'tiers: free, pro, enterprise',
      'error: 404 customer_not_found: No customer ….',
    ]);
  });

  describe('a 429 with Retry-After', () => {
    /**
     * `/v1/me` allows a customer 60 requests a minute (RATE_LIMIT_ME, the default) as GCRA: a burst of 60, then one
     * a second. Calling it until refused meets a 429 whose Retry-After is 1 s, at product defaults.
     */
    async function holder(retries: { maxDelayMs: number }) {
      const customer = await admin.customers.create({ name: 'Busy worker', tier: 'pro' });
      const { secret } = await admin.keys.create(customer.id, { name: 'worker' });
      const attempts: Array<{ at: number; status: number }> = [];
      const retried: RetryEvent[] = [];
      const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
        const response = await checkedFetch(input, init);
        attempts.push({ at: performance.now(), status: response.status });
        return response;
      }) as typeof globalThis.fetch;
      return { client: createTollgateClient({ baseUrl: service.url, apiKey: secret, fetch, retries, onRetry: (event) => retried.push(event) }), attempts, retried };
    }

    it('is waited out and retried: the call succeeds, one Retry-After later', async () => {
      const { client, attempts, retried } = await holder({ maxDelayMs: 5_000 });
      for (let call = 0; call < 200 && retried.length === 0; call++) expect((await client.request('GET', '/v1/me')).status).toBe(200);
      expect(retried.map((event) => ({ status: (event.error as TollgateApiError).status, code: (event.error as TollgateApiError).code, delayMs: event.delayMs }))).toEqual([
        { status: 429, code: 'rate_limit_exceeded', delayMs: 1_000 },
      ]);
      // The refused attempt, then the retry one Retry-After later, admitted.
      const [refusedAttempt, retry] = attempts.slice(-2);
      expect([refusedAttempt.status, retry.status]).toEqual([429, 200]);
      expect(retry.at - refusedAttempt.at).toBeGreaterThanOrEqual(1_000);
      expect(attempts.filter((attempt) => attempt.status === 429)).toHaveLength(1);
    });

    it('is thrown at once when Retry-After is longer than maxDelayMs', async () => {
      const { client, attempts, retried } = await holder({ maxDelayMs: 500 });
      let error: unknown;
      for (let call = 0; call < 200 && error === undefined; call++) error = await client.request('GET', '/v1/me').then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(TollgateApiError);
      expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded', retryAfter: 1, body: { error: 'rate_limit_exceeded', retryAfter: 1 } });
      expect((error as TollgateApiError).headers.get('x-ratelimit-limit')).toBe('60');
      // No retry: the refused attempt was the call's only one.
      expect(attempts.at(-1)?.status).toBe(429);
      expect(attempts.filter((attempt) => attempt.status === 429)).toHaveLength(1);
      expect(retried).toEqual([]);
    });
  });
});
