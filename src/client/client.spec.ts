import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { retryAfterMs } from './client.errors.js';
import { createTollgateClient, TollgateApiError, type TollgateClientOptions } from './index.js';

const BASE = 'http://tollgate.test';
const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

interface Seen {
  url: string;
  method: string;
  headers: Headers;
  body: unknown;
  at: number;
}

type Answer = Response | Error | ((signal: AbortSignal) => Promise<Response>);

/** A fetch that answers from a script, one entry per attempt, and records every attempt and when it was made. */
function scriptedFetch(...answers: Answer[]) {
  const seen: Seen[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    seen.push({ url: String(input), method: init?.method ?? 'GET', headers: new Headers(init?.headers), body: init?.body ? JSON.parse(String(init.body)) : undefined, at: Date.now() });
    const answer = answers[Math.min(seen.length - 1, answers.length - 1)];
    if (answer instanceof Error) throw answer;
    if (typeof answer === 'function') return answer(init!.signal!);
    return answer.clone();
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'req-1', ...headers } });
const refused = (status: 429 | 503, retryAfter?: string) =>
  json(status, { error: status === 429 ? 'rate_limit_exceeded' : 'database_unavailable', message: 'Come back later.', ...(retryAfter && /^\d+$/.test(retryAfter) ? { retryAfter: Number(retryAfter) } : {}) }, retryAfter === undefined ? {} : { 'retry-after': retryAfter });
const customer = { id: 'cus_1', name: 'Acme' };
const decision = { valid: true, code: 'ok', status: 200, customerId: 'cus_1', tier: 'pro', headers: {} };

function client(fetch: typeof globalThis.fetch, options: Partial<TollgateClientOptions> = {}) {
  return createTollgateClient({ baseUrl: BASE, adminToken: 'admin-token', fetch, ...options });
}

/** Settles `promise` while the fake clock runs on, so the test never waits in real time. */
async function settle<T>(promise: Promise<T>): Promise<T> {
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  for (let i = 0; i < 100; i++) await jest.advanceTimersByTimeAsync(1_000);
  const result = await outcome;
  if ('error' in result) throw result.error;
  return result.value;
}

describe('tollgate/client', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: T0, doNotFake: ['queueMicrotask', 'nextTick', 'setImmediate'] });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  describe('requests', () => {
    it('builds the URL from the path template and query, sends the credential and a JSON body', async () => {
      const { fetch, seen } = scriptedFetch(json(200, { data: [], nextCursor: null }), json(201, customer));
      const admin = client(fetch, { baseUrl: `${BASE}/`, headers: { 'user-agent': 'billing-worker' } });
      await admin.keys.list('cus 1/é', { limit: 5, cursor: undefined });
      await admin.customers.create({ name: 'Acme', tier: 'pro' });
      expect(seen[0].url).toBe(`${BASE}/v1/customers/cus%201%2F%C3%A9/keys?limit=5`);
      expect(seen[0].method).toBe('GET');
      expect(seen[0].headers.get('authorization')).toBe('Bearer admin-token');
      expect(seen[0].headers.get('user-agent')).toBe('billing-worker');
      expect(seen[0].body).toBeUndefined();
      expect(seen[1]).toMatchObject({ url: `${BASE}/v1/customers`, method: 'POST', body: { name: 'Acme', tier: 'pro' } });
      expect(seen[1].headers.get('content-type')).toBe('application/json');
    });

    it('sends an API key as x-api-key, and refuses to be given both credentials', async () => {
      const { fetch, seen } = scriptedFetch(json(200, { tiers: [], meters: [], upgradeUrl: '/' }));
      await createTollgateClient({ baseUrl: BASE, apiKey: 'tg_live_abc', fetch }).request('GET', '/v1/tiers');
      expect(seen[0].headers.get('x-api-key')).toBe('tg_live_abc');
      expect(seen[0].headers.has('authorization')).toBe(false);
      expect(() => createTollgateClient({ baseUrl: BASE, apiKey: 'k', adminToken: 't', fetch })).toThrow(TypeError);
    });

    it('request() answers data, status and headers; a 204 has no data', async () => {
      const { fetch, seen } = scriptedFetch(json(202, { subscription: { status: 'incomplete' } }, { 'x-quota-remaining': '7' }), new Response(null, { status: 204 }));
      const admin = client(fetch);
      const answer = await admin.request('POST', '/v1/customers/{customerId}/subscription', { params: { path: { customerId: 'cus_1' } }, body: { tier: 'pro' } });
      expect(answer.status).toBe(202);
      expect(answer.data).toEqual({ subscription: { status: 'incomplete' } });
      expect(answer.headers.get('x-quota-remaining')).toBe('7');
      const empty = await admin.request('GET', '/v1/keys/verify/auth-request', { params: { header: { 'x-original-uri': '/v1/search', 'x-tollgate-cost': undefined } } });
      expect(empty).toMatchObject({ status: 204, data: undefined });
      expect(seen[1].headers.get('x-original-uri')).toBe('/v1/search');
      expect(seen[1].headers.has('x-tollgate-cost')).toBe(false);
    });

    it('refuses a path parameter that is missing or empty before sending anything', async () => {
      const { fetch, seen } = scriptedFetch(json(200, customer));
      await expect(client(fetch).customers.get('')).rejects.toThrow(/path parameter customerId is missing/);
      expect(seen).toHaveLength(0);
    });
  });

  describe('errors', () => {
    it('maps a non-2xx answer to a TollgateApiError with status, code, message, headers and body', async () => {
      const body = { error: 'customer_not_found', message: 'No customer cus_9.' };
      const { fetch } = scriptedFetch(json(404, body, { 'x-request-id': 'req-404' }));
      const error = await client(fetch)
        .customers.get('cus_9')
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TollgateApiError);
      expect(error).toMatchObject({ name: 'TollgateApiError', status: 404, code: 'customer_not_found', message: 'No customer cus_9.', body, method: 'GET', url: `${BASE}/v1/customers/cus_9`, requestId: 'req-404' });
      expect((error as TollgateApiError).headers.get('content-type')).toContain('application/json');
    });

    it('keeps a body that is not Tollgate error JSON as text, with an http_<status> code', async () => {
      const { fetch } = scriptedFetch(new Response('<html>Bad Gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } }));
      const error = (await client(fetch)
        .customers.get('cus_1')
        .catch((caught: unknown) => caught)) as TollgateApiError;
      expect(error).toMatchObject({ status: 502, code: 'http_502', body: '<html>Bad Gateway</html>' });
      expect(error.message).toBe(`GET ${BASE}/v1/customers/cus_1 answered 502`);
    });

    it('a verify refusal is a decision (200, valid: false), not an error, and is not retried', async () => {
      const refusal = { ...decision, valid: false, code: 'rate_limit_exceeded', status: 429, retryAfter: 6, headers: { 'Retry-After': '6' } };
      const { fetch, seen } = scriptedFetch(json(200, refusal));
      await expect(client(fetch).verify({ key: 'tg_live_x', path: '/v1/search', method: 'GET', idempotencyKey: 'req-1' })).resolves.toEqual(refusal);
      expect(seen).toHaveLength(1);
    });
  });

  describe('retries', () => {
    it('waits the Retry-After seconds of a 429, not less, then retries', async () => {
      const { fetch, seen } = scriptedFetch(refused(429, '2'), json(200, customer));
      const pending = client(fetch).customers.get('cus_1');
      await jest.advanceTimersByTimeAsync(1_999);
      expect(seen).toHaveLength(1);
      await jest.advanceTimersByTimeAsync(1);
      await expect(pending).resolves.toEqual(customer);
      expect(seen.map((attempt) => attempt.at - T0)).toEqual([0, 2_000]);
    });

    it('reads Retry-After as an HTTP date too', async () => {
      const at = new Date(T0 + 3_000).toUTCString();
      const { fetch, seen } = scriptedFetch(refused(503, at), json(200, customer));
      await settle(client(fetch).customers.get('cus_1'));
      expect(seen.map((attempt) => attempt.at - T0)).toEqual([0, 3_000]);
    });

    it('gives up at once when Retry-After is longer than maxDelayMs, telling how long to wait', async () => {
      const { fetch, seen } = scriptedFetch(refused(429, '60'), json(200, customer));
      const error = (await settle(client(fetch, { retries: { maxDelayMs: 5_000 } }).customers.get('cus_1')).catch((caught: unknown) => caught)) as TollgateApiError;
      expect(error).toMatchObject({ status: 429, code: 'rate_limit_exceeded', retryAfter: 60 });
      expect(seen).toHaveLength(1);
    });

    it('makes at most 1 + max attempts, then throws the last answer', async () => {
      const { fetch, seen } = scriptedFetch(refused(503, '1'));
      const retried: number[] = [];
      const error = (await settle(client(fetch, { retries: { max: 3 }, onRetry: (event) => retried.push(event.delayMs) }).customers.list()).catch((caught: unknown) => caught)) as TollgateApiError;
      expect(error).toMatchObject({ status: 503, code: 'database_unavailable' });
      expect(seen.map((attempt) => attempt.at - T0)).toEqual([0, 1_000, 2_000, 3_000]);
      expect(retried).toEqual([1_000, 1_000, 1_000]);
      const { fetch: once, seen: single } = scriptedFetch(refused(503, '1'));
      await expect(settle(client(once, { retries: false }).customers.list())).rejects.toMatchObject({ status: 503 });
      expect(single).toHaveLength(1);
    });

    it('without Retry-After backs off from baseDelayMs, doubling, capped by maxDelayMs', async () => {
      const { fetch, seen } = scriptedFetch(refused(503), refused(503), refused(503), json(200, customer));
      await settle(client(fetch, { retries: { max: 3, baseDelayMs: 400, maxDelayMs: 1_000 } }).customers.get('cus_1'));
      const waits = seen.slice(1).map((attempt, i) => attempt.at - seen[i].at);
      // Jittered within [half, whole] of 400, 800, then min(1 600, 1 000).
      expect(waits[0]).toBeGreaterThanOrEqual(200);
      expect(waits[0]).toBeLessThanOrEqual(400);
      expect(waits[1]).toBeGreaterThanOrEqual(400);
      expect(waits[1]).toBeLessThanOrEqual(800);
      expect(waits[2]).toBeGreaterThanOrEqual(500);
      expect(waits[2]).toBeLessThanOrEqual(1_000);
    });

    it('retries a network error of an idempotent request', async () => {
      const { fetch, seen } = scriptedFetch(new TypeError('fetch failed'), json(200, customer));
      await expect(settle(client(fetch).customers.get('cus_1'))).resolves.toEqual(customer);
      expect(seen).toHaveLength(2);
    });

    it('never retries a POST without an idempotency key: create, rotate, and a verify that records without one', async () => {
      for (const answer of [refused(429, '1'), refused(503, '1'), new TypeError('fetch failed')]) {
        // Every attempt fails: a retry would show as a third attempt.
        const { fetch, seen } = scriptedFetch(answer);
        const admin = client(fetch);
        await expect(settle(admin.customers.create({ name: 'Acme', tier: 'pro' }))).rejects.toBeDefined();
        await expect(settle(admin.keys.rotate('cus_1', 'key_1'))).rejects.toBeDefined();
        expect(seen).toHaveLength(2);
      }
      const { fetch, seen } = scriptedFetch(new TypeError('fetch failed'));
      await expect(settle(client(fetch).verify({ key: 'tg_live_x', path: '/v1/search', method: 'GET' }))).rejects.toThrow('fetch failed');
      expect(seen).toHaveLength(1);
    });

    it('retries what carries an idempotency key: ingest events, verify with idempotencyKey, an Idempotency-Key header', async () => {
      const { fetch, seen } = scriptedFetch(refused(503, '1'), json(200, { accepted: 1, duplicates: 0, rejected: 0, results: [] }), new TypeError('fetch failed'), json(200, decision), refused(429, '1'), json(201, {}));
      const admin = client(fetch);
      await settle(admin.ingest([{ customerId: 'cus_1', meter: 'api_calls', quantity: 3, idempotencyKey: 'job-42' }]));
      await settle(admin.verify({ key: 'tg_live_x', path: '/v1/search', method: 'GET', idempotencyKey: 'req-1' }));
      await settle(admin.keys.create('cus_1', { name: 'ci' }, { headers: { 'Idempotency-Key': 'create-ci-key' } }));
      expect(seen.map((attempt) => `${attempt.method} ${new URL(attempt.url).pathname}`)).toEqual([
        'POST /v1/events',
        'POST /v1/events',
        'POST /v1/keys/verify',
        'POST /v1/keys/verify',
        'POST /v1/customers/cus_1/keys',
        'POST /v1/customers/cus_1/keys',
      ]);
      expect(seen[1].body).toEqual(seen[0].body);
    });

    it('does not retry other errors (400, 401, 404, 500)', async () => {
      for (const status of [400, 401, 404, 500]) {
        const { fetch, seen } = scriptedFetch(json(status, { error: 'nope', message: 'No.' }, { 'retry-after': '1' }), json(200, customer));
        await expect(settle(client(fetch).customers.get('cus_1'))).rejects.toMatchObject({ status });
        expect(seen).toHaveLength(1);
      }
    });

    it("the caller's abort ends the wait before a retry at once", async () => {
      const { fetch, seen } = scriptedFetch(refused(429, '5'), json(200, customer));
      const controller = new AbortController();
      const pending = client(fetch)
        .customers.get('cus_1', { signal: controller.signal })
        .catch((caught: unknown) => caught);
      await jest.advanceTimersByTimeAsync(1_000);
      controller.abort(new Error('shutting down'));
      await expect(pending).resolves.toEqual(new Error('shutting down'));
      await jest.advanceTimersByTimeAsync(10_000);
      expect(seen).toHaveLength(1);
    });
  });

  it('an attempt that outlives timeoutMs is abandoned and, when idempotent, retried', async () => {
    jest.useRealTimers();
    let attempts = 0;
    const fetch = ((_input: string | URL | Request, init?: RequestInit) => {
      attempts += 1;
      if (attempts > 1) return Promise.resolve(json(200, customer));
      return new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)));
    }) as typeof globalThis.fetch;
    const started = performance.now();
    await expect(client(fetch, { timeoutMs: 50, retries: { baseDelayMs: 1 } }).customers.get('cus_1')).resolves.toEqual(customer);
    expect(attempts).toBe(2);
    expect(performance.now() - started).toBeLessThan(5_000);
    attempts = 0;
    await expect(client(fetch, { timeoutMs: 50 }).customers.create({ name: 'Acme', tier: 'pro' })).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(attempts).toBe(1);
  });
});

describe('retryAfterMs', () => {
  it('reads delay-seconds and HTTP dates; ignores what is neither', () => {
    const now = Date.UTC(2026, 0, 5, 12, 0, 0);
    expect(retryAfterMs('6', now)).toBe(6_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Mon, 05 Jan 2026 12:00:09 GMT', now)).toBe(9_000);
    expect(retryAfterMs('Mon, 05 Jan 2026 11:00:00 GMT', now)).toBe(0);
    for (const junk of [null, '', '-1', '1.5', 'soon', '5e3']) expect(retryAfterMs(junk, now)).toBeUndefined();
  });
});

/** Compile-time checks (npm run typecheck): the document types every route, parameter and body. Never run. */
export async function typedByTheDocument(): Promise<unknown[]> {
  const admin = createTollgateClient({ baseUrl: BASE });
  const found = await admin.request('GET', '/v1/customers/{customerId}', { params: { path: { customerId: 'cus_1' } } });
  const id: string = found.data.id;
  const tiers = await admin.request('GET', '/v1/tiers');
  const tierName: string = tiers.data.tiers[0].name;
  // @ts-expect-error an undocumented path
  await admin.request('GET', '/v1/nowhere');
  // @ts-expect-error a method the path does not answer
  await admin.request('PUT', '/v1/customers');
  // @ts-expect-error the path parameter is required
  await admin.request('GET', '/v1/customers/{customerId}');
  // @ts-expect-error a misspelt body field
  await admin.request('POST', '/v1/customers', { body: { nme: 'Acme' } });
  // @ts-expect-error an event needs its idempotencyKey
  await admin.ingest([{ customerId: 'cus_1', meter: 'api_calls' }]);
  const verdict = await admin.verify({ key: 'tg_live_x', path: '/v1/search', method: 'GET' });
  // @ts-expect-error valid is a boolean
  const notNumber: number = verdict.valid;
  const usage = await admin.usage('cus_1', { period: 'current' });
  return [id, tierName, notNumber, usage.meters];
}
