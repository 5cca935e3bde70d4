import { ConstantTimeComparator } from '../../src/common/constant-time.js';
import { hashApiKey } from '../../src/api-keys/api-key.secret.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';

/** Records every constant-time comparison while still doing it. */
class RecordingComparator extends ConstantTimeComparator {
  readonly digestCalls: Array<[string, string]> = [];
  readonly secretCalls: number[] = [];
  override digestsEqual(a: string, b: string): boolean {
    this.digestCalls.push([a, b]);
    return super.digestsEqual(a, b);
  }
  override secretsEqual(a: string, b: string): boolean {
    this.secretCalls.push(Date.now());
    return super.secretsEqual(a, b);
  }
}

describe('security of keys and admin routes', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  const comparator = new RecordingComparator();
  const secrets: string[] = [TEST_ADMIN_TOKEN];

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, {
      config: testConfig(database, { demo: true, logLevel: 'trace' }),
      overrides: [[ConstantTimeComparator, comparator]],
    });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it.each([
    ['no key', {}],
    ['an empty key', { 'x-api-key': '' }],
    ['a malformed key', { 'x-api-key': 'hello' }],
    ['an unknown well-formed key', { 'x-api-key': `tg_live_${'A'.repeat(43)}` }],
    ['an unknown bearer key', { authorization: `Bearer tg_test_${'b'.repeat(43)}` }],
    ['a basic auth header', { authorization: 'Basic dXNlcjpwYXNz' }],
  ])('answers %s with 401 invalid_api_key and WWW-Authenticate', async (_name, headers) => {
    const response = await call('GET', `${service.url}/v1/basic/echo`, { headers: headers as Record<string, string> });
    expect(response.status).toBe(401);
    expect(response.body.error).toBe('invalid_api_key');
    expect(response.body.message).toEqual(expect.any(String));
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="tollgate", error="invalid_token"');
  });

  it('accepts the key in x-api-key or Authorization: Bearer', async () => {
    const customer = await admin.customerWithKey('free');
    secrets.push(customer.secret);
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: customer.secret })).status).toBe(200);
    expect((await call('GET', `${service.url}/v1/basic/echo`, { bearer: customer.secret })).status).toBe(200);
  });

  it('refuses revoked keys', async () => {
    const customer = await admin.customerWithKey('free');
    secrets.push(customer.secret);
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: customer.secret })).status).toBe(200);
    await admin.request('DELETE', `/v1/customers/${customer.customerId}/keys/${customer.keyId}`);
    const response = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: customer.secret });
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ error: 'invalid_api_key', message: 'This API key has been revoked.' });
  });

  it('answers 403 tier_required with the tier needed, the current tier and an upgrade URL', async () => {
    const free = await admin.customerWithKey('free');
    const pro = await admin.customerWithKey('pro');
    const enterprise = await admin.customerWithKey('enterprise');
    secrets.push(free.secret, pro.secret, enterprise.secret);
    const status = async (secret: string, path: string) => (await call('GET', `${service.url}${path}`, { apiKey: secret })).status;
    expect([await status(free.secret, '/v1/basic/echo'), await status(free.secret, '/v1/search'), await status(free.secret, '/v1/admin/stats')]).toEqual([200, 403, 403]);
    expect([await status(pro.secret, '/v1/basic/echo'), await status(pro.secret, '/v1/search'), await status(pro.secret, '/v1/admin/stats')]).toEqual([200, 200, 403]);
    expect([await status(enterprise.secret, '/v1/basic/echo'), await status(enterprise.secret, '/v1/search'), await status(enterprise.secret, '/v1/admin/stats')]).toEqual([200, 200, 200]);
    const refused = await call('GET', `${service.url}/v1/admin/stats`, { apiKey: pro.secret });
    expect(refused.body).toEqual({
      error: 'tier_required',
      message: 'This endpoint needs the enterprise tier or higher; your tier is pro.',
      requiredTier: 'enterprise',
      currentTier: 'pro',
      upgradeUrl: '/portal#upgrade',
    });
  });

  it("never lets customer A read or change customer B's data", async () => {
    const a = await admin.customerWithKey('pro');
    const b = await admin.customerWithKey('pro');
    secrets.push(a.secret, b.secret);
    const asA = (method: string, path: string, body?: unknown) => call(method, `${service.url}${path}`, { apiKey: a.secret, body });

    const me = await asA('GET', '/v1/me');
    expect(me.body.id).toBe(a.customerId);
    const keys = await asA('GET', '/v1/me/keys');
    expect(keys.body.data.map((k: { id: string }) => k.id)).toEqual([a.keyId]);
    expect(JSON.stringify(keys.body)).not.toContain(b.customerId);

    expect((await asA('DELETE', `/v1/me/keys/${b.keyId}`)).status).toBe(404);
    expect((await asA('POST', `/v1/me/keys/${b.keyId}/rotate`, {})).status).toBe(404);
    expect((await asA('PATCH', `/v1/me/keys/${b.keyId}`, { name: 'taken' })).status).toBe(404);
    expect((await admin.request('GET', `/v1/customers/${b.customerId}/keys/${b.keyId}`)).body.name).not.toBe('taken');
    const renamedOwn = await asA('PATCH', `/v1/me/keys/${a.keyId}`, { name: 'mine' });
    expect(renamedOwn.status).toBe(200);
    expect(renamedOwn.body).toMatchObject({ id: a.keyId, name: 'mine' });
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: b.secret })).status).toBe(200);

    // A key holder is not an admin, whatever it sends.
    expect((await call('GET', `${service.url}/v1/customers/${b.customerId}`, { bearer: a.secret })).status).toBe(401);
    expect((await call('GET', `${service.url}/v1/customers/${b.customerId}/keys`, { apiKey: a.secret })).status).toBe(401);
    expect((await call('PATCH', `${service.url}/v1/customers/${b.customerId}`, { apiKey: a.secret, body: { tier: 'free' } })).status).toBe(401);

    // A key created through /v1/me belongs to A only.
    const created = await asA('POST', '/v1/me/keys', { name: 'second' });
    expect(created.status).toBe(201);
    secrets.push(created.body.secret);
    const bKeys = await admin.request('GET', `/v1/customers/${b.customerId}/keys`);
    expect(bKeys.body.data.map((k: { id: string }) => k.id)).toEqual([b.keyId]);
  });

  it('compares key digests and the admin token in constant time', async () => {
    const customer = await admin.customerWithKey('free');
    secrets.push(customer.secret);
    comparator.digestCalls.length = 0;
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: customer.secret })).status).toBe(200);
    const digest = hashApiKey(customer.secret);
    expect(comparator.digestCalls).toContainEqual([digest, digest]);
    const before = comparator.secretCalls.length;
    await admin.request('GET', '/v1/customers');
    await call('GET', `${service.url}/v1/customers`, { bearer: 'wrong-token-wrong-token' });
    expect(comparator.secretCalls.length).toBe(before + 2);
  });

  it('never writes a secret, key digest or admin token to the logs', async () => {
    // Exercise every path that handles secrets: create, use, rotate, revoke, bad keys, admin auth.
    const customer = await admin.customerWithKey('pro');
    secrets.push(customer.secret);
    await call('GET', `${service.url}/v1/search?q=x`, { apiKey: customer.secret });
    const rotated = await admin.request('POST', `/v1/customers/${customer.customerId}/keys/${customer.keyId}/rotate`, { gracePeriodSeconds: 0 });
    secrets.push(rotated.body.secret);
    await call('GET', `${service.url}/v1/search`, { apiKey: customer.secret });
    await admin.request('DELETE', `/v1/customers/${customer.customerId}/keys/${rotated.body.key.id}`);
    await call('GET', `${service.url}/v1/search`, { apiKey: rotated.body.secret });
    await call('GET', `${service.url}/v1/customers`, { bearer: `${TEST_ADMIN_TOKEN}x` });

    const logs = service.logs.text;
    expect(logs.length).toBeGreaterThan(1000);
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain(secret.slice(8, 30));
      if (secret.startsWith('tg_')) expect(logs).not.toContain(hashApiKey(secret));
    }
  });
});
