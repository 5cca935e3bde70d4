import { LastUsedTracker } from '../../src/api-keys/last-used.tracker.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { sleep } from '../support/wait.js';


describe('admin API: customers and keys', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  const get = (path: string, apiKey?: string) => call('GET', `${service.url}${path}`, { apiKey });

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database, { demo: true }) });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it('refuses every admin route without the admin token', async () => {
    for (const [method, path] of [
      ['GET', '/v1/customers'],
      ['POST', '/v1/customers'],
      ['GET', '/v1/customers/cus_x'],
      ['PATCH', '/v1/customers/cus_x'],
      ['POST', '/v1/customers/cus_x/keys'],
      ['GET', '/v1/customers/cus_x/keys'],
      ['POST', '/v1/customers/cus_x/keys/key_x/rotate'],
      ['DELETE', '/v1/customers/cus_x/keys/key_x'],
    ]) {
      const anonymous = await call(method, `${service.url}${path}`, { body: method === 'GET' ? undefined : {} });
      expect([method, path, anonymous.status]).toEqual([method, path, 401]);
      const wrong = await call(method, `${service.url}${path}`, { bearer: 'not-the-admin-token-at-all' });
      expect(wrong.status).toBe(401);
      expect(wrong.body.error).toBe('unauthorized');
    }
  });

  it('creates, gets, lists and updates customers', async () => {
    const created = await admin.createCustomer('pro', { email: 'ops@acme.test', externalId: 'acme-1' });
    expect(created).toMatchObject({ tier: 'pro', status: 'active', email: 'ops@acme.test', externalId: 'acme-1' });
    expect(created.id).toMatch(/^cus_/);
    expect(created.limits).toEqual({ includedCalls: 50000, rateLimits: [{ limit: 100, windowSeconds: 60 }], onQuotaExceeded: 'overage' });

    const fetched = await admin.request('GET', `/v1/customers/${created.id}`);
    expect(fetched.body.id).toBe(created.id);

    const listed = await admin.request('GET', '/v1/customers?tier=pro&limit=200');
    expect(listed.body.data.map((c: { id: string }) => c.id)).toContain(created.id);

    const updated = await admin.request('PATCH', `/v1/customers/${created.id}`, { name: 'Acme Ltd', status: 'past_due' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ name: 'Acme Ltd', status: 'past_due', tier: 'pro' });

    expect((await admin.request('GET', '/v1/customers/cus_missing')).status).toBe(404);
    const duplicate = await admin.request('POST', '/v1/customers', { name: 'Again', tier: 'pro', externalId: 'acme-1' });
    expect(duplicate.status).toBe(400);
  });

  it('paginates customers with a cursor', async () => {
    for (let i = 0; i < 3; i++) await admin.createCustomer('free');
    const first = await admin.request('GET', '/v1/customers?limit=2');
    expect(first.body.data).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await admin.request('GET', `/v1/customers?limit=2&cursor=${first.body.nextCursor}`);
    const ids = [...first.body.data, ...second.body.data].map((c: { id: string }) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('rejects bad input with field-level 400s', async () => {
    const cases: Array<[string, string, unknown, string[]]> = [
      ['POST', '/v1/customers', { tier: 'pro' }, ['name']],
      ['POST', '/v1/customers', { name: 'x', tier: 'platinum' }, ['tier']],
      ['POST', '/v1/customers', { name: 'x', tier: 'pro', email: 'nope' }, ['email']],
      ['POST', '/v1/customers', { name: 'x', tier: 'pro', sneaky: true }, ['sneaky']],
      ['POST', '/v1/customers', { name: 'x', tier: 'enterprise' }, ['overrides.includedCalls', 'overrides.rateLimit']],
      ['POST', '/v1/customers', { name: 'x', tier: 'pro', overrides: { rateLimit: ['fast'] } }, ['overrides.rateLimit']],
      ['POST', '/v1/customers', { name: 'x', tier: 'pro', webhookUrl: 'ftp://x' }, ['webhookUrl']],
    ];
    for (const [method, path, body, fields] of cases) {
      const response = await admin.request(method, path, body);
      expect([JSON.stringify(body), response.status]).toEqual([JSON.stringify(body), 400]);
      expect(response.body.error).toBe('validation_failed');
      expect(response.body.details.map((d: { field: string }) => d.field).sort()).toEqual(fields.sort());
    }
    const customer = await admin.createCustomer('free');
    const badKey = await admin.request('POST', `/v1/customers/${customer.id}/keys`, { mode: 'prod', expiresAt: 'tomorrow' });
    expect(badKey.status).toBe(400);
    expect(badKey.body.details.map((d: { field: string }) => d.field).sort()).toEqual(['expiresAt', 'mode']);
    const past = await admin.request('POST', `/v1/customers/${customer.id}/keys`, { expiresAt: '2001-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    const badGrace = await admin.request('POST', `/v1/customers/${customer.id}/keys/key_x/rotate`, { gracePeriodSeconds: -5 });
    expect(badGrace.status).toBe(400);
  });

  it('accepts an enterprise customer with overrides for its custom values', async () => {
    const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 2_000_000, rateLimit: ['5000/min', '100/s'] } });
    expect(customer.limits).toEqual({
      includedCalls: 2_000_000,
      rateLimits: [
        { limit: 5000, windowSeconds: 60 },
        { limit: 100, windowSeconds: 1 },
      ],
      onQuotaExceeded: 'overage',
    });
  });

  it('shows a key secret once; lists show only the prefix', async () => {
    const customer = await admin.createCustomer('free');
    const issued = await admin.createKey(customer.id, { name: 'ci', scopes: ['ingest'] });
    expect(issued.secret).toMatch(/^tg_live_[0-9A-Za-z]{43}$/);
    expect(issued.key).toMatchObject({ name: 'ci', scopes: ['ingest'], status: 'active', prefix: issued.secret.slice(0, 12) });
    const listed = await admin.request('GET', `/v1/customers/${customer.id}/keys`);
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(issued.secret);
    expect(text).not.toContain('hash');
    expect(listed.body.data[0]).toMatchObject({ id: issued.key.id, prefix: issued.secret.slice(0, 12) });
    const [row] = await database.query<{ hash: string; prefix: string }>('SELECT hash, prefix FROM api_keys WHERE id = $1', [issued.key.id]);
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await database.query('SELECT * FROM api_keys'))).not.toContain(issued.secret);
  });

  it('renames a key without touching its secret; a blank or extra field is a 400', async () => {
    const customer = await admin.customerWithKey('free');
    const path = `/v1/customers/${customer.customerId}/keys/${customer.keyId}`;
    const renamed = await admin.request('PATCH', path, { name: '  deploy-bot  ' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ id: customer.keyId, name: 'deploy-bot', status: 'active' });
    expect((await admin.request('GET', path)).body.name).toBe('deploy-bot');
    expect((await get('/v1/basic/echo', customer.secret)).status).toBe(200);

    const blank = await admin.request('PATCH', path, { name: '   ' });
    expect(blank.status).toBe(400);
    expect(JSON.stringify(blank.body)).toContain('name must not be blank');
    expect((await admin.request('PATCH', path, { name: 'x', scopes: ['ingest'] })).status).toBe(400);
    expect((await admin.request('PATCH', path, {})).status).toBe(400);
    expect((await admin.request('PATCH', `/v1/customers/${customer.customerId}/keys/key_missing`, { name: 'x' })).status).toBe(404);
    expect((await admin.request('GET', path)).body.name).toBe('deploy-bot');
  });

  it('rotates with a grace period: both keys work, then the old one expires', async () => {
    const customer = await admin.customerWithKey('free');
    const rotated = await admin.request('POST', `/v1/customers/${customer.customerId}/keys/${customer.keyId}/rotate`, { gracePeriodSeconds: 1 });
    expect(rotated.status).toBe(201);
    expect(rotated.body.secret).not.toBe(customer.secret);
    expect((await get('/v1/basic/echo', customer.secret)).status).toBe(200);
    expect((await get('/v1/basic/echo', rotated.body.secret)).status).toBe(200);
    await sleep(1100);
    const old = await get('/v1/basic/echo', customer.secret);
    expect(old.status).toBe(401);
    expect(old.body.message).toContain('expired');
    expect((await get('/v1/basic/echo', rotated.body.secret)).status).toBe(200);
    const oldView = await admin.request('GET', `/v1/customers/${customer.customerId}/keys/${customer.keyId}`);
    expect(oldView.body).toMatchObject({ status: 'expired', replacedBy: rotated.body.key.id });
  });

  it('rotates with the default 24 h grace', async () => {
    const customer = await admin.customerWithKey('free');
    const before = Date.now();
    const rotated = await admin.request('POST', `/v1/customers/${customer.customerId}/keys/${customer.keyId}/rotate`, {});
    const old = await admin.request('GET', `/v1/customers/${customer.customerId}/keys/${customer.keyId}`);
    const expires = Date.parse(old.body.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 24 * 3600_000 + 1000);
    expect((await get('/v1/basic/echo', customer.secret)).status).toBe(200);
    expect((await get('/v1/basic/echo', rotated.body.secret)).status).toBe(200);
  });

  it('expires keys at their expiry time, even while cached', async () => {
    const customer = await admin.createCustomer('free');
    const issued = await admin.createKey(customer.id, { expiresAt: new Date(Date.now() + 800).toISOString() });
    expect((await get('/v1/basic/echo', issued.secret)).status).toBe(200);
    await sleep(900);
    const response = await get('/v1/basic/echo', issued.secret);
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'invalid_api_key', message: 'This API key has expired.' });
  });

  it('refuses keys of suspended customers and accepts them again when reactivated', async () => {
    const customer = await admin.customerWithKey('free');
    expect((await get('/v1/basic/echo', customer.secret)).status).toBe(200);
    await admin.request('PATCH', `/v1/customers/${customer.customerId}`, { status: 'suspended' });
    const refused = await get('/v1/basic/echo', customer.secret);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_api_key');
    await admin.request('PATCH', `/v1/customers/${customer.customerId}`, { status: 'active' });
    expect((await get('/v1/basic/echo', customer.secret)).status).toBe(200);
  });

  it('applies a tier change to cached keys at once', async () => {
    const customer = await admin.customerWithKey('free');
    expect((await get('/v1/search', customer.secret)).status).toBe(403);
    await admin.request('PATCH', `/v1/customers/${customer.customerId}`, { tier: 'pro' });
    expect((await get('/v1/search', customer.secret)).status).toBe(200);
  });

  it('records last use without a write per request', async () => {
    const customer = await admin.customerWithKey('free');
    for (let i = 0; i < 5; i++) await get('/v1/basic/echo', customer.secret);
    const [before] = await database.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_keys WHERE id = $1', [customer.keyId]);
    expect(before.last_used_at).toBeNull();
    await service.app.get(LastUsedTracker).flush();
    const [after] = await database.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_keys WHERE id = $1', [customer.keyId]);
    expect(after.last_used_at).not.toBeNull();
    const listed = await admin.request('GET', `/v1/customers/${customer.customerId}/keys`);
    expect(listed.body.data[0].lastUsedAt).toEqual(expect.any(String));
  });
});
