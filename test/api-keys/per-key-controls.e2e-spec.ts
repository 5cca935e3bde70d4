import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, type CallResult } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';
import { until } from '../support/wait.js';

/**
 * Per-key controls — its own rate limit, a usage cap with refill, an IP allowlist, endpoint globs, metadata — decided
 * by the same code at both doors: the guard chain of a Nest route (the demo routes) and the verify API.
 */
describe('per-key controls', () => {
  let database: TestDatabase;
  let service: TestApp;
  let second: TestApp;
  let admin: AdminClient;

  const guarded = (secret: string, path = '/v1/basic/echo', headers: Record<string, string> = {}) => call('GET', `${service.url}${path}`, { apiKey: secret, headers });
  const verify = (body: Record<string, unknown>) =>
    call('POST', `${service.url}/v1/keys/verify`, { body: { path: '/v1/basic/echo', method: 'GET', ...body }, bearer: TEST_ADMIN_TOKEN });
  const statuses = (results: CallResult[]) => results.reduce<Record<number, number>>((counts, result) => ({ ...counts, [result.status]: (counts[result.status] ?? 0) + 1 }), {});
  const counted = async (customerId: string) =>
    Number((await database.query<{ sum: string | null }>('SELECT sum(total)::text AS sum FROM usage_counters WHERE customer_id = $1', [customerId]))[0].sum ?? 0);
  const keyWith = async (tier: string, controls: Record<string, unknown>, overrides?: Record<string, unknown>) => {
    const customer = await admin.createCustomer(tier, tier === 'enterprise' ? { overrides: { includedCalls: 1_000_000, rateLimit: ['1000/min'] } } : overrides ? { overrides } : {});
    const { secret, key } = await admin.createKey(customer.id, { name: 'controlled', controls });
    return { customerId: customer.id as string, secret, keyId: key.id as string, key };
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    const config = testConfig(database, { demo: true });
    service = await startTestApp(database, { config });
    // A second instance on the same database (and Redis), which trusts no proxy: X-Forwarded-For means nothing to it.
    second = await startTestApp(database, { config: testConfig(database, { demo: true, redisPrefix: config.redisPrefix, trustedProxies: '192.0.2.1' }) });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await second?.close();
    await service?.close();
    await database?.dispose();
  });

  describe('own rate limit', () => {
    it('charges the key on top of its customer: both must pass, the headers show the tighter one', async () => {
      // The customer's own limit refills slowly (1 per 864 s), so its remaining budget counts exactly what was charged.
      const { customerId, secret } = await keyWith('pro', { rateLimit: ['5/min'] }, { rateLimit: ['100/day'] });
      const other = (await admin.createKey(customerId, { name: 'plain' })).secret;
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await guarded(secret));
      expect(answers.slice(0, 5).map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
      expect(answers[0].headers.get('x-ratelimit-limit')).toBe('5');
      expect(answers[4].headers.get('x-ratelimit-remaining')).toBe('0');
      expect(answers[5].status).toBe(429);
      expect(answers[5].body).toMatchObject({ error: 'rate_limit_exceeded', limit: 5, windowSeconds: 60 });
      expect(Number(answers[5].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // The customer's budget was charged by the 5 admitted requests only (the refused one took nothing); its other key is not limited to 5.
      const plain = await guarded(other);
      expect(plain.status).toBe(200);
      expect(plain.headers.get('x-ratelimit-limit')).toBe('100');
      expect(plain.headers.get('x-ratelimit-remaining')).toBe('94');
      // The customer's own limit still binds the key: the looser of the two never wins.
      const loose = await keyWith('free', { rateLimit: ['50/min'] });
      const free = [];
      for (let i = 0; i < 11; i++) free.push(await guarded(loose.secret));
      expect(free[0].headers.get('x-ratelimit-limit')).toBe('10');
      expect(free[10].status).toBe(429);
    });

    it('is the same budget at the verify door', async () => {
      const { secret } = await keyWith('pro', { rateLimit: ['3/min'] });
      expect((await guarded(secret)).status).toBe(200);
      const first = await verify({ key: secret, record: false });
      expect(first.body).toMatchObject({ valid: true, headers: { 'X-RateLimit-Limit': '3', 'X-RateLimit-Remaining': '1' } });
      expect((await verify({ key: secret, record: false })).body.valid).toBe(true);
      const refused = await verify({ key: secret, record: false });
      expect(refused.body).toMatchObject({ valid: false, code: 'rate_limit_exceeded', status: 429 });
      expect(refused.body.headers['Retry-After']).toBeDefined();
      expect((await guarded(secret)).status).toBe(429);
    });

    it('admits exactly 10 of 200 concurrent requests on a key limited to 10/min, at each door', async () => {
      // 10/min refills one request every 6 s: on a box slow enough that the burst outlasts that, each refill admits
      // exactly one more (GCRA), never a request beyond the budget.
      const admittedAtMost = (startedAt: number) => 10 + Math.floor((performance.now() - startedAt) / 6_000);
      const atGuard = await keyWith('enterprise', { rateLimit: ['10/min'] });
      let startedAt = performance.now();
      const guardedResults = await Promise.all(Array.from({ length: 200 }, () => guarded(atGuard.secret)));
      const guardedCounts = statuses(guardedResults);
      expect(Object.keys(guardedCounts).sort()).toEqual(['200', '429']);
      expect(guardedCounts[200]).toBeGreaterThanOrEqual(10);
      expect(guardedCounts[200]).toBeLessThanOrEqual(admittedAtMost(startedAt));
      expect(guardedCounts[200] + guardedCounts[429]).toBe(200);

      const atVerify = await keyWith('enterprise', { rateLimit: ['10/min'] });
      startedAt = performance.now();
      const decisions = await Promise.all(Array.from({ length: 200 }, () => verify({ key: atVerify.secret, record: false })));
      const valid = decisions.filter((decision) => decision.body.valid).length;
      expect(decisions.every((decision) => decision.status === 200)).toBe(true);
      expect(valid).toBeGreaterThanOrEqual(10);
      expect(valid).toBeLessThanOrEqual(admittedAtMost(startedAt));
      expect(decisions.filter((decision) => decision.body.code === 'rate_limit_exceeded').length).toBe(200 - valid);
      process.stdout.write(`per-key rate limit 10/min, 200 concurrent: ${guardedCounts[200]} admitted at the guard, ${valid} at verify\n`);
    });
  });

  describe('usage cap', () => {
    it('spends each admitted request’s cost, then refuses usage_exceeded without spending or counting', async () => {
      const { customerId, secret, keyId } = await keyWith('pro', { usageCap: { remaining: 5 } });
      expect((await guarded(secret, '/v1/search')).status).toBe(200); // costs 2
      expect((await guarded(secret, '/v1/search')).status).toBe(200); // 1 left
      const refused = await guarded(secret, '/v1/search');
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ error: 'usage_exceeded', remaining: 1, cost: 2, refillsAt: null });
      // No refill: nothing frees up, so no Retry-After.
      expect(refused.headers.get('retry-after')).toBeNull();
      expect((await guarded(secret)).status).toBe(200); // costs 1: fits exactly
      expect((await admin.request('GET', `/v1/customers/${customerId}/keys/${keyId}`)).body.controls.usageCap).toEqual({ remaining: 0, refill: null });
      const atVerify = await verify({ key: secret });
      expect(atVerify.body).toMatchObject({ valid: false, code: 'usage_exceeded', status: 429 });
      // Usage counts the admitted requests only (2 + 2 + 1).
      expect(await counted(customerId)).toBe(5);
    });

    it('answers the units left at the verify door, which spends from the same cap', async () => {
      const { secret } = await keyWith('pro', { usageCap: { remaining: 3 } });
      expect((await verify({ key: secret })).body).toMatchObject({ valid: true, usageRemaining: 2 });
      expect((await guarded(secret)).status).toBe(200);
      expect((await verify({ key: secret, cost: 2 })).body).toMatchObject({ valid: false, code: 'usage_exceeded' });
      expect((await verify({ key: secret })).body).toMatchObject({ valid: true, usageRemaining: 0 });
    });

    it('lets exactly 10 of 200 concurrent requests through a cap of 10, at each door and across instances', async () => {
      const atGuard = await keyWith('enterprise', { usageCap: { remaining: 10 } });
      const guardedResults = await Promise.all(
        Array.from({ length: 200 }, (_, i) => call('GET', `${(i % 2 === 0 ? service : second).url}/v1/basic/echo`, { apiKey: atGuard.secret })),
      );
      expect(statuses(guardedResults)).toEqual({ 200: 10, 429: 190 });
      expect(guardedResults.filter((result) => result.status === 429).every((result) => result.body.error === 'usage_exceeded')).toBe(true);
      expect(await counted(atGuard.customerId)).toBe(10);

      const atVerify = await keyWith('enterprise', { usageCap: { remaining: 10 } });
      const decisions = await Promise.all(Array.from({ length: 200 }, () => verify({ key: atVerify.secret })));
      expect(decisions.filter((decision) => decision.body.valid).length).toBe(10);
      expect(decisions.filter((decision) => decision.body.code === 'usage_exceeded').length).toBe(190);
      expect(await counted(atVerify.customerId)).toBe(10);
    });

    it('refills to its amount once the refill period has turned', async () => {
      const { customerId, secret, keyId } = await keyWith('pro', { usageCap: { remaining: 1, refill: { amount: 3, interval: 'day' } } });
      expect((await guarded(secret)).status).toBe(200);
      const refused = await guarded(secret);
      expect(refused.body).toMatchObject({ error: 'usage_exceeded', remaining: 0 });
      // With a refill, Retry-After is the time until the next UTC midnight.
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(86_400);
      expect(new Date(refused.body.refillsAt).getUTCHours()).toBe(0);
      // Yesterday's refill: the day has turned since.
      await database.query(`UPDATE api_keys SET usage_refilled_at = now() - interval '1 day' WHERE id = $1`, [keyId]);
      expect((await admin.request('GET', `/v1/customers/${customerId}/keys/${keyId}`)).body.controls.usageCap.remaining).toBe(3);
      expect((await verify({ key: secret })).body).toMatchObject({ valid: true, usageRemaining: 2 });
      expect((await guarded(secret)).status).toBe(200);
      expect((await guarded(secret)).status).toBe(200);
      expect((await guarded(secret)).body.error).toBe('usage_exceeded');
    });

    it('moves to the replacement on rotation: a rotation never adds budget', async () => {
      const { customerId, secret, keyId } = await keyWith('pro', { usageCap: { remaining: 2 } });
      expect((await guarded(secret)).status).toBe(200);
      const rotated = (await admin.request('POST', `/v1/customers/${customerId}/keys/${keyId}/rotate`, {})).body;
      expect(rotated.key.controls.usageCap).toEqual({ remaining: 1, refill: null });
      expect(rotated.key.lockedControls).toEqual(['usageCap']);
      expect((await guarded(secret)).body.error).toBe('usage_exceeded');
      expect((await guarded(rotated.secret)).status).toBe(200);
      expect((await guarded(rotated.secret)).body.error).toBe('usage_exceeded');
    });
  });

  describe('IP allowlist', () => {
    it('admits only addresses on the list (IPv4 and IPv6), from a trusted proxy’s X-Forwarded-For', async () => {
      const { secret, key } = await keyWith('pro', { ipAllowlist: ['203.0.113.0/24', '2001:DB8::/32', '198.51.100.7'] });
      expect(key.controls.ipAllowlist).toEqual(['203.0.113.0/24', '2001:db8::/32', '198.51.100.7/32']);
      const direct = await guarded(secret);
      expect(direct.status).toBe(403);
      expect(direct.body).toMatchObject({ error: 'ip_not_allowed' });
      // The test connects over loopback, which the service trusts as a proxy by default (TOLLGATE_TRUSTED_PROXIES).
      expect((await guarded(secret, '/v1/basic/echo', { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
      expect((await guarded(secret, '/v1/basic/echo', { 'x-forwarded-for': '2001:db8:1::5' })).status).toBe(200);
      expect((await guarded(secret, '/v1/basic/echo', { 'x-forwarded-for': '198.51.100.7' })).status).toBe(200);
      expect((await guarded(secret, '/v1/basic/echo', { 'x-forwarded-for': '198.51.100.8' })).status).toBe(403);
      // An instance that does not trust the connecting proxy ignores X-Forwarded-For: the socket address decides.
      const untrusted = await call('GET', `${second.url}/v1/basic/echo`, { apiKey: secret, headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(untrusted.body).toMatchObject({ error: 'ip_not_allowed' });
      // Every door that takes the key: /v1/me too.
      expect((await call('GET', `${service.url}/v1/me`, { apiKey: secret })).body.error).toBe('ip_not_allowed');
    });

    it('decides on the gateway-given ip at the verify door, and fails closed without one', async () => {
      const { secret } = await keyWith('pro', { ipAllowlist: ['203.0.113.0/24', '2001:db8::/32'] });
      expect((await verify({ key: secret, ip: '203.0.113.5' })).body).toMatchObject({ valid: true });
      expect((await verify({ key: secret, ip: '2001:db8::1' })).body).toMatchObject({ valid: true });
      expect((await verify({ key: secret, ip: '::ffff:203.0.113.5' })).body).toMatchObject({ valid: true });
      expect((await verify({ key: secret, ip: '192.0.2.1' })).body).toMatchObject({ valid: false, code: 'ip_not_allowed', status: 403 });
      expect((await verify({ key: secret })).body).toMatchObject({ valid: false, code: 'ip_not_allowed', status: 403 });
      // A key without an allowlist does not need the ip.
      const plain = await admin.customerWithKey('pro');
      expect((await verify({ key: plain.secret })).body.valid).toBe(true);

      // nginx's door: X-Original-IP ($remote_addr); missing or not an address (a unix socket's "unix:") is unknown.
      const door = (key: string, ip?: string) =>
        call('GET', `${service.url}/v1/keys/verify/auth-request`, {
          headers: { 'x-tollgate-verifier': TEST_ADMIN_TOKEN, 'x-api-key': key, 'x-original-uri': '/v1/basic/echo', ...(ip === undefined ? {} : { 'x-original-ip': ip }) },
        });
      expect((await door(secret, '203.0.113.5')).status).toBe(204);
      for (const ip of [undefined, '192.0.2.1', 'unix:']) {
        const refused = await door(secret, ip);
        expect({ ip, status: refused.status, code: refused.headers.get('x-tollgate-code') }).toEqual({ ip, status: 403, code: 'ip_not_allowed' });
      }
      expect((await door(plain.secret, 'unix:')).status).toBe(204);
    });

    it('holds for the keys that call Tollgate itself: a verify key and an ingest key', async () => {
      const operator = await admin.createCustomer('free');
      const verifier = (await admin.createKey(operator.id, { scopes: ['verify'], controls: { ipAllowlist: ['203.0.113.0/24'] } })).secret;
      const plain = await admin.customerWithKey('pro');
      const body = { key: plain.secret, path: '/v1/basic/echo', method: 'GET', record: false };
      const refused = await call('POST', `${service.url}/v1/keys/verify`, { apiKey: verifier, body });
      expect(refused.status).toBe(403);
      expect(refused.body.error).toBe('ip_not_allowed');
      expect((await call('POST', `${service.url}/v1/keys/verify`, { apiKey: verifier, body, headers: { 'x-forwarded-for': '203.0.113.1' } })).body.valid).toBe(true);

      const ingest = (await admin.createKey(plain.customerId, { scopes: ['ingest'], controls: { ipAllowlist: ['203.0.113.0/24'] } })).secret;
      const events = { events: [{ customerId: plain.customerId, meter: 'api_calls', quantity: 1, timestamp: new Date().toISOString(), idempotencyKey: 'ip-1' }] };
      expect((await call('POST', `${service.url}/v1/events`, { apiKey: ingest, body: events })).body.error).toBe('ip_not_allowed');
      expect((await call('POST', `${service.url}/v1/events`, { apiKey: ingest, body: events, headers: { 'x-forwarded-for': '203.0.113.1' } })).status).toBeLessThan(300);
    });

    it('refuses a refused address before any budget is charged', async () => {
      const { secret } = await keyWith('pro', { ipAllowlist: ['203.0.113.0/24'], rateLimit: ['1/min'] });
      for (let i = 0; i < 3; i++) expect((await guarded(secret)).status).toBe(403);
      expect((await guarded(secret, '/v1/basic/echo', { 'x-forwarded-for': '203.0.113.1' })).status).toBe(200);
    });
  });

  describe('allowed endpoints', () => {
    it('narrows the tier: a path outside the key’s globs is endpoint_not_allowed at both doors', async () => {
      const { secret } = await keyWith('pro', { endpoints: ['/v1/basic/**'] });
      expect((await guarded(secret)).status).toBe(200);
      const refused = await guarded(secret, '/v1/search');
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: 'endpoint_not_allowed' });
      expect((await verify({ key: secret, path: '/v1/search?q=x' })).body).toMatchObject({ valid: false, code: 'endpoint_not_allowed', status: 403 });
      expect((await verify({ key: secret, path: '/v1/basic/echo' })).body.valid).toBe(true);
      // The tier still decides first: a free key allowed /v1/search by its own globs still needs pro.
      const free = await keyWith('free', { endpoints: ['/v1/**'] });
      expect((await guarded(free.secret, '/v1/search')).body.error).toBe('tier_required');
    });
  });

  describe('metadata', () => {
    it('is shown on the key and returned by verify', async () => {
      const metadata = { team: 'search', limits: { burst: true, regions: ['eu', 'us'] } };
      const { secret, key } = await keyWith('pro', { metadata });
      expect(key.controls.metadata).toEqual(metadata);
      expect((await verify({ key: secret })).body).toMatchObject({ valid: true, metadata });
      const plain = await admin.customerWithKey('pro');
      expect((await verify({ key: plain.secret })).body.metadata).toBeUndefined();
    });

    it('is bounded: at most 3 levels deep and 4 KB', async () => {
      const customer = await admin.createCustomer('pro');
      const deep = await admin.request('POST', `/v1/customers/${customer.id}/keys`, { controls: { metadata: { a: { b: { c: { d: 1 } } } } } });
      expect(deep.status).toBe(400);
      expect(deep.body.details).toEqual([{ field: 'controls.metadata', problems: ['must nest at most 3 levels deep'] }]);
      const big = await admin.request('POST', `/v1/customers/${customer.id}/keys`, { controls: { metadata: { blob: 'x'.repeat(4100) } } });
      expect(big.status).toBe(400);
      expect(big.body.details[0].field).toBe('controls.metadata');
    });
  });

  describe('who sets them', () => {
    it('the operator changes any control with PATCH; every instance stops honouring the old one', async () => {
      const { customerId, secret, keyId } = await keyWith('pro', {});
      expect((await call('GET', `${second.url}/v1/search`, { apiKey: secret })).status).toBe(200);
      const patched = await admin.request('PATCH', `/v1/customers/${customerId}/keys/${keyId}`, { name: 'narrowed', controls: { endpoints: ['/v1/basic/*'] } });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ name: 'narrowed', controls: { endpoints: ['/v1/basic/*'] }, lockedControls: ['endpoints'] });
      expect(patched.body.hash).toBeUndefined();
      expect((await guarded(secret, '/v1/search')).body.error).toBe('endpoint_not_allowed');
      await until(async () => (await call('GET', `${second.url}/v1/search`, { apiKey: secret })).status === 403, 5_000);
      // null removes it (and unlocks it).
      const removed = await admin.request('PATCH', `/v1/customers/${customerId}/keys/${keyId}`, { controls: { endpoints: null } });
      expect(removed.body).toMatchObject({ controls: { endpoints: null }, lockedControls: [] });
      expect((await guarded(secret, '/v1/search')).status).toBe(200);
      const empty = await admin.request('PATCH', `/v1/customers/${customerId}/keys/${keyId}`, {});
      expect(empty.status).toBe(400);
    });

    it('a key holder adds and removes its own controls, but cannot touch the operator’s or loosen its account’s rate', async () => {
      const { customerId, secret, keyId } = await keyWith('pro', { ipAllowlist: ['127.0.0.1/32'] });
      const other = (await admin.createKey(customerId, { name: 'other' })).key.id;
      const me = (method: string, path: string, body?: unknown) => call(method, `${service.url}/v1/me${path}`, { apiKey: secret, body });

      const own = await me('PATCH', `/keys/${other}`, { controls: { endpoints: ['/v1/basic/**'], rateLimit: ['20/min'], usageCap: { remaining: 100, refill: { amount: 100, interval: 'month' } } } });
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ controls: { endpoints: ['/v1/basic/**'], rateLimit: ['20/min'], usageCap: { remaining: 100 } }, lockedControls: [] });
      expect((await me('PATCH', `/keys/${other}`, { controls: { endpoints: null } })).body.controls.endpoints).toBeNull();

      const locked = await me('PATCH', `/keys/${keyId}`, { controls: { ipAllowlist: null } });
      expect(locked.status).toBe(403);
      expect(locked.body).toMatchObject({ error: 'control_locked', controls: ['ipAllowlist'] });
      expect((await me('PATCH', `/keys/${keyId}`, { controls: { ipAllowlist: ['0.0.0.0/0'] } })).body.error).toBe('control_locked');
      expect((await me('PATCH', `/keys/${other}`, { controls: { metadata: { plan: 'enterprise' } } })).body.error).toBe('control_locked');
      const loose = await me('PATCH', `/keys/${other}`, { controls: { rateLimit: ['200/min'] } });
      expect(loose.status).toBe(403);
      expect(loose.body.error).toBe('rate_limit_not_held');
      // Its own key may get more controls where the operator set none.
      expect((await me('PATCH', `/keys/${keyId}`, { controls: { rateLimit: ['50/min'] } })).body).toMatchObject({ controls: { rateLimit: ['50/min'], ipAllowlist: ['127.0.0.1/32'] } });

      // A key it makes inherits what the operator locked on its own key, locked again.
      const made = await me('POST', '/keys', { name: 'made', controls: { endpoints: ['/v1/basic/*'] } });
      expect(made.status).toBe(201);
      expect(made.body.key).toMatchObject({ controls: { ipAllowlist: ['127.0.0.1/32'], endpoints: ['/v1/basic/*'] }, lockedControls: ['ipAllowlist'] });
      expect((await me('POST', '/keys', { controls: { ipAllowlist: ['10.0.0.0/8'] } })).body.error).toBe('control_locked');
      const listed = (await me('GET', '/keys')).body.data;
      expect(listed.find((key: { id: string }) => key.id === keyId).controls.ipAllowlist).toEqual(['127.0.0.1/32']);

      // A key with an operator-set cap makes no keys: a new key would be new budget.
      const capped = await keyWith('pro', { usageCap: { remaining: 5 } });
      const refused = await call('POST', `${service.url}/v1/me/keys`, { apiKey: capped.secret, body: { name: 'more' } });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ error: 'control_locked', controls: ['usageCap'] });
    });

    it('refuses bad controls with a 400 naming the field', async () => {
      const customer = await admin.createCustomer('pro');
      const create = (controls: unknown) => admin.request('POST', `/v1/customers/${customer.id}/keys`, { controls });
      const cases: Array<[unknown, string]> = [
        [{ ipAllowlist: ['10.0.0.0/33'] }, 'controls.ipAllowlist[0]'],
        [{ ipAllowlist: ['2001:db8::/129'] }, 'controls.ipAllowlist[0]'],
        [{ ipAllowlist: ['fe80::1%eth0'] }, 'controls.ipAllowlist[0]'],
        [{ ipAllowlist: ['not-an-ip'] }, 'controls.ipAllowlist[0]'],
        [{ ipAllowlist: [] }, 'controls.ipAllowlist'],
        [{ rateLimit: ['10 per minute'] }, 'controls.rateLimit[0]'],
        [{ rateLimit: ['99999999999999999999/min'] }, 'controls.rateLimit[0]'],
        [{ usageCap: { remaining: -1 } }, 'controls.usageCap.remaining'],
        [{ usageCap: { remaining: 1e20 } }, 'controls.usageCap.remaining'],
        [{ usageCap: { remaining: 5, refill: { amount: 5, interval: 'year' } } }, 'controls.usageCap.refill.interval'],
        [{ endpoints: ['v1/no-slash'] }, 'controls.endpoints[0]'],
        [{ metadata: ['not', 'an', 'object'] }, 'controls.metadata'],
      ];
      for (const [controls, field] of cases) {
        const answer = await create(controls);
        expect({ controls, status: answer.status, error: answer.body.error }).toEqual({ controls, status: 400, error: 'validation_failed' });
        expect(answer.body.details.map((detail: { field: string }) => detail.field)).toContain(field);
      }
    });
  });
});
