import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';

/**
 * The verify API decides a request of another service exactly as the guard chain decides a Nest route: the same
 * key checks, tier globs, rate limit, quota and durable usage event — one budget shared by both doors.
 */
describe('verify API', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  let verifierKey: string;

  const verify = (body: unknown, credential: Record<string, string> = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }) =>
    call('POST', `${service.url}/v1/keys/verify`, { body, headers: credential });
  const counted = async (customerId: string) =>
    Number((await database.query<{ sum: string | null }>('SELECT sum(total)::text AS sum FROM usage_counters WHERE customer_id = $1', [customerId]))[0].sum ?? 0);
  const events = async (customerId: string) =>
    database.query<{ quantity: string; idempotency_key: string; properties: Record<string, unknown> }>(
      'SELECT quantity::text, idempotency_key, properties FROM usage_events WHERE customer_id = $1 ORDER BY occurred_at',
      [customerId],
    );

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database, { demo: true }) });
    admin = new AdminClient(service.url);
    const gateway = await admin.createCustomer('free', { name: 'gateway' });
    verifierKey = (await admin.createKey(gateway.id, { name: 'nginx', scopes: ['verify'] })).secret;
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it('is in the OpenAPI document: both routes, their callers, the body and the decision', async () => {
    const document = (await call('GET', `${service.url}/docs/openapi.json`)).body;
    const post = document.paths['/v1/keys/verify'].post;
    expect(post.security).toEqual([{ admin: [] }, { 'api-key': [] }, { 'api-key-bearer': [] }]);
    expect(post.requestBody.content['application/json'].schema.$ref).toMatch(/VerifyKeyDto$/);
    expect(post.responses['200'].content['application/json'].schema.$ref).toMatch(/VerifyDecisionDto$/);
    expect(Object.keys(document.components.schemas.VerifyKeyDto.properties).sort()).toEqual(['cost', 'idempotencyKey', 'ip', 'key', 'meter', 'method', 'path', 'record']);
    const door = document.paths['/v1/keys/verify/auth-request'].get;
    expect(door.security).toEqual([{ verifier: [] }]);
    expect(Object.keys(door.responses)).toEqual(expect.arrayContaining(['204', '400', '401', '403', '429', '503']));
    expect(door.responses['429'].headers).toEqual(expect.objectContaining({ 'Retry-After': expect.anything(), 'X-RateLimit-Limit': expect.anything(), 'X-Quota-Remaining': expect.anything() }));
    expect(document.components.securitySchemes.verifier).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-tollgate-verifier' });
  });

  describe('who may ask', () => {
    it('takes the admin token or a key with the verify scope; anything else is a 401, a key without the scope a 403', async () => {
      const customer = await admin.customerWithKey('pro');
      const body = { key: customer.secret, path: '/v1/search', method: 'GET', record: false };
      expect((await verify(body)).body).toMatchObject({ valid: true, code: 'ok' });
      expect((await verify(body, { 'x-api-key': verifierKey })).body).toMatchObject({ valid: true, code: 'ok', customerId: customer.customerId, tier: 'pro' });
      expect((await verify(body, { authorization: `Bearer ${verifierKey}` })).status).toBe(200);

      const none = await verify(body, {});
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toContain('Bearer');
      expect((await verify(body, { authorization: 'Bearer not-the-token' })).status).toBe(401);
      expect((await verify(body, { 'x-api-key': 'tg_live_unknownunknownunknown' })).status).toBe(401);
      // The key being decided is not a credential to ask with.
      const plain = await verify(body, { 'x-api-key': customer.secret });
      expect(plain.status).toBe(403);
      expect(plain.body).toMatchObject({ error: 'scope_required', requiredScope: 'verify' });
    });

    it('lets only the operator grant the verify scope: a key holder cannot give it, not even one that has it', async () => {
      const customer = await admin.createCustomer('pro');
      const plain = (await admin.createKey(customer.id, { name: 'app' })).secret;
      const holding = (await admin.createKey(customer.id, { name: 'gw', scopes: ['verify'] })).secret;
      for (const secret of [plain, holding]) {
        const escalated = await call('POST', `${service.url}/v1/me/keys`, { apiKey: secret, body: { name: 'sneaky', scopes: ['verify'] } });
        expect(escalated.status).toBe(403);
        expect(escalated.body).toMatchObject({ error: 'scope_not_held', scopes: ['verify'] });
      }
      const listed = await admin.request('GET', `/v1/customers/${customer.id}/keys`);
      expect(listed.body.data).toHaveLength(2);
    });
  });

  describe('malformed calls', () => {
    it('answers 400 naming the field, before anything is charged or counted', async () => {
      const customer = await admin.customerWithKey('pro');
      const good = { key: customer.secret, path: '/v1/search', method: 'GET' };
      const bad: Array<[unknown, string]> = [
        [{ ...good, path: undefined }, 'validation_failed'],
        [{ ...good, path: 'v1/search' }, 'validation_failed'],
        [{ ...good, path: '/v1/\u0000' }, 'validation_failed'],
        [{ ...good, method: 'GET /' }, 'validation_failed'],
        [{ ...good, key: 42 }, 'validation_failed'],
        [{ ...good, cost: -1 }, 'validation_failed'],
        [{ ...good, cost: 1.5 }, 'validation_failed'],
        [{ ...good, cost: '1' }, 'validation_failed'],
        [{ ...good, cost: 10 ** 15 }, 'invalid_cost'],
        [{ ...good, meter: 'nope' }, 'validation_failed'],
        [{ ...good, idempotencyKey: 'has space' }, 'validation_failed'],
        [{ ...good, record: 'yes' }, 'validation_failed'],
        [{ ...good, extra: true }, 'validation_failed'],
        ['[]', 'validation_failed'],
      ];
      for (const [body, error] of bad) {
        const response = await verify(body);
        expect({ body, status: response.status, error: response.body.error }).toEqual({ body, status: 400, error });
      }
      expect(await counted(customer.customerId)).toBe(0);
      // Nothing was charged: the whole budget is left.
      const first = await verify({ ...good, record: false });
      expect(first.body.headers['X-RateLimit-Remaining']).toBe('99');
    });
  });

  describe('decisions', () => {
    it('refuses a missing, unknown or revoked key as the guard would (401 invalid_api_key), in a 200', async () => {
      const customer = await admin.customerWithKey('pro');
      const missing = await verify({ key: '', path: '/v1/search', method: 'GET' });
      expect(missing.status).toBe(200);
      expect(missing.body).toMatchObject({ valid: false, code: 'invalid_api_key', status: 401, customerId: null, tier: null });
      expect(missing.body.headers['WWW-Authenticate']).toContain('Bearer');
      expect((await verify({ key: 'tg_live_nope', path: '/v1/search', method: 'GET' })).body).toMatchObject({ valid: false, code: 'invalid_api_key' });
      await admin.request('DELETE', `/v1/customers/${customer.customerId}/keys/${customer.keyId}`);
      const revoked = await verify({ key: customer.secret, path: '/v1/search', method: 'GET' });
      expect(revoked.body).toMatchObject({ valid: false, code: 'invalid_api_key', message: 'This API key has been revoked.' });
    });

    it("applies tiers.yaml's endpoint globs to the path (query string ignored)", async () => {
      const free = await admin.customerWithKey('free');
      const basic = await verify({ key: free.secret, path: '/v1/basic/echo?x=1', method: 'GET', record: false });
      expect(basic.body).toMatchObject({ valid: true, code: 'ok', tier: 'free' });
      const search = await verify({ key: free.secret, path: '/v1/search?q=1', method: 'GET' });
      expect(search.body).toMatchObject({ valid: false, code: 'tier_required', status: 403, customerId: free.customerId, tier: 'free' });
      expect(await counted(free.customerId)).toBe(0);
    });

    it('shares one rate limit with the guarded routes: exactly the limit passes, then 429 with the same headers', async () => {
      const free = await admin.customerWithKey('free'); // 10/min
      for (let i = 0; i < 4; i++) expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: free.secret })).status).toBe(200);
      const burst = await Promise.all(Array.from({ length: 10 }, () => verify({ key: free.secret, path: '/v1/basic/echo', method: 'GET' })));
      const passed = burst.filter((response) => response.body.valid);
      expect(passed).toHaveLength(6);
      const refused = burst.find((response) => !response.body.valid)!.body;
      expect(refused).toMatchObject({ valid: false, code: 'rate_limit_exceeded', status: 429, customerId: free.customerId });
      expect(refused.retryAfter).toBeGreaterThan(0);
      expect(refused.headers).toMatchObject({ 'Retry-After': String(refused.retryAfter), 'X-RateLimit-Limit': '10', 'X-RateLimit-Remaining': '0' });

      const guarded = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: free.secret });
      expect(guarded.status).toBe(429);
      for (const name of ['RateLimit-Policy', 'X-RateLimit-Limit', 'X-RateLimit-Remaining']) {
        expect(guarded.headers.get(name)).toBe(refused.headers[name]);
      }
      // Counted exactly: 4 guarded + 6 verified, none of the refused.
      expect(await counted(free.customerId)).toBe(10);
    });

    it('enforces the quota, counts usage exactly (cost, meter properties) and counts a retried idempotency key once', async () => {
      const customer = await admin.createCustomer('free', { overrides: { includedCalls: 5, rateLimit: ['1000/min'] } });
      const { secret } = await admin.createKey(customer.id);
      const first = await verify({ key: secret, path: '/v1/basic/echo', method: 'post', cost: 2, idempotencyKey: 'job-1' });
      expect(first.body).toMatchObject({ valid: true, code: 'ok', headers: { 'X-Quota-Limit': '5', 'X-Quota-Remaining': '3' } });
      const retry = await verify({ key: secret, path: '/v1/basic/echo', method: 'post', cost: 2, idempotencyKey: 'job-1' });
      expect(retry.body).toMatchObject({ valid: true, headers: { 'X-Quota-Remaining': '3' } });
      expect(await counted(customer.id)).toBe(2);
      // A decision without recording sees the quota but counts nothing.
      expect((await verify({ key: secret, path: '/v1/basic/echo', method: 'GET', cost: 3, record: false })).body.valid).toBe(true);
      expect(await counted(customer.id)).toBe(2);

      const third = await verify({ key: secret, path: '/v1/basic/echo', method: 'GET', cost: 3 });
      expect(third.body).toMatchObject({ valid: true, headers: { 'X-Quota-Remaining': '0' } });
      const over = await verify({ key: secret, path: '/v1/basic/echo', method: 'GET' });
      expect(over.body).toMatchObject({ valid: false, code: 'quota_exceeded', status: 429, headers: { 'X-Quota-Remaining': '0' } });
      expect(over.body.retryAfter).toBeGreaterThan(0);
      expect(over.body.headers['Retry-After']).toBe(String(over.body.retryAfter));
      // The guarded route sees the same quota.
      const guarded = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret });
      expect(guarded.status).toBe(429);
      expect(guarded.body.error).toBe('quota_exceeded');

      expect(await counted(customer.id)).toBe(5);
      const recorded = await events(customer.id);
      expect(recorded.map((event) => event.quantity)).toEqual(['2', '3']);
      expect(recorded[0].idempotency_key).toBe('idem:job-1');
      expect(recorded[0].properties).toEqual({ method: 'POST', path: '/v1/basic/echo' });
    });

    it('weighs the given cost on the rate limit as a guarded route weighs its cost (0 costs nothing)', async () => {
      const customer = await admin.createCustomer('free', { overrides: { rateLimit: ['3/min'] } });
      const { secret } = await admin.createKey(customer.id);
      const costly = await verify({ key: secret, path: '/v1/basic/echo', method: 'GET', cost: 3 });
      expect(costly.body).toMatchObject({ valid: true, headers: { 'X-RateLimit-Remaining': '0' } });
      const next = await verify({ key: secret, path: '/v1/basic/echo', method: 'GET', cost: 0 });
      expect(next.body.valid).toBe(true);
      expect((await verify({ key: secret, path: '/v1/basic/echo', method: 'GET' })).body.code).toBe('rate_limit_exceeded');
    });
  });

  describe('auth-request door', () => {
    const authRequest = (headers: Record<string, string>) => call('GET', `${service.url}/v1/keys/verify/auth-request`, { headers });

    it("takes the verifier's credential from X-Tollgate-Verifier only (Authorization is the client's)", async () => {
      const customer = await admin.customerWithKey('pro');
      const request = { 'x-original-uri': '/v1/search', authorization: `Bearer ${customer.secret}` };
      expect((await authRequest(request)).status).toBe(401);
      expect((await authRequest({ ...request, 'x-tollgate-verifier': customer.secret })).status).toBe(403);
      const allowed = await authRequest({ ...request, 'x-tollgate-verifier': verifierKey });
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('x-tollgate-code')).toBe('ok');
      expect(allowed.headers.get('x-tollgate-customer-id')).toBe(customer.customerId);
      expect(allowed.headers.get('x-tollgate-tier')).toBe('pro');
      expect(allowed.headers.get('x-ratelimit-remaining')).toBe('99');
      expect((await authRequest({ ...request, 'x-tollgate-verifier': TEST_ADMIN_TOKEN })).status).toBe(204);
    });

    it('answers 400 for a malformed description of the original request, before anything is counted', async () => {
      const customer = await admin.customerWithKey('pro');
      const base = { 'x-tollgate-verifier': verifierKey, 'x-api-key': customer.secret };
      const bad: Array<[Record<string, string>, string]> = [
        [{}, 'validation_failed'],
        [{ 'x-original-uri': 'v1/search' }, 'validation_failed'],
        [{ 'x-original-uri': '/v1/search', 'x-original-method': 'G T' }, 'validation_failed'],
        [{ 'x-original-uri': '/v1/search', 'x-tollgate-cost': '-1' }, 'validation_failed'],
        [{ 'x-original-uri': '/v1/search', 'x-tollgate-cost': '9999999999999999' }, 'invalid_cost'],
        [{ 'x-original-uri': '/v1/search', 'x-tollgate-meter': 'unknown_meter' }, 'validation_failed'],
        [{ 'x-original-uri': '/v1/search', 'idempotency-key': ' ' }, 'invalid_idempotency_key'],
      ];
      for (const [headers, error] of bad) {
        const response = await authRequest({ ...base, ...headers });
        expect({ headers, status: response.status, error: response.body.error }).toEqual({ headers, status: 400, error });
      }
      expect(await counted(customer.customerId)).toBe(0);
    });
  });
});
