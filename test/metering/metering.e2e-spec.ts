import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';

describe('metering over HTTP', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  const get = (path: string, apiKey: string, headers: Record<string, string> = {}) => call('GET', `${service.url}${path}`, { apiKey, headers });
  const total = async (customerId: string) =>
    Number((await database.query<{ sum: string | null }>('SELECT sum(total)::text AS sum FROM usage_counters WHERE customer_id = $1', [customerId]))[0].sum ?? 0);

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database, { demo: true }) });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it('records one durable event per successful metered response, with quota headers', async () => {
    const customer = await admin.customerWithKey('free');
    const response = await get('/v1/basic/echo', customer.secret);
    expect(response.status).toBe(200);
    // The response was sent after the event was committed: it is already in the ledger.
    expect(await total(customer.customerId)).toBe(1);
    expect(response.headers.get('x-quota-limit')).toBe('1000');
    expect(response.headers.get('x-quota-remaining')).toBe('999');
    expect(Number(response.headers.get('x-quota-reset'))).toBeGreaterThan(0);
    const [event] = await database.query<{ meter: string; quantity: string; idempotency_key: string }>(
      'SELECT meter, quantity::text, idempotency_key FROM usage_events WHERE customer_id = $1',
      [customer.customerId],
    );
    expect(event).toMatchObject({ meter: 'api_calls', quantity: '1' });
    expect(event.idempotency_key).toMatch(/^req:/);
  });

  it('counts a retry with the same Idempotency-Key once', async () => {
    const customer = await admin.customerWithKey('pro');
    for (let i = 0; i < 3; i++) expect((await get('/v1/search?q=a', customer.secret, { 'idempotency-key': 'retry-1' })).status).toBe(200);
    expect(await total(customer.customerId)).toBe(2); // /v1/search costs 2
    const bad = await get('/v1/search', customer.secret, { 'idempotency-key': 'x'.repeat(300) });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('invalid_idempotency_key');
  });

  it('does not meter refused requests', async () => {
    const customer = await admin.customerWithKey('free');
    expect((await get('/v1/search', customer.secret)).status).toBe(403);
    expect(await total(customer.customerId)).toBe(0);
  });

  it('blocks a free customer past its quota with 429 quota_exceeded and an upgrade URL', async () => {
    const customer = await admin.createCustomer('free', { overrides: { includedCalls: 3 } });
    const { secret } = await admin.createKey(customer.id);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get('/v1/basic/echo', secret)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const refused = await get('/v1/basic/echo', secret);
    expect(refused.body).toMatchObject({ error: 'quota_exceeded', included: 3, used: 3, upgradeUrl: '/portal#upgrade' });
    expect(refused.headers.get('x-quota-remaining')).toBe('0');
    expect(await total(customer.id)).toBe(3);
  });

  it('keeps serving a paid customer past its quota (overage)', async () => {
    const customer = await admin.createCustomer('pro', { overrides: { includedCalls: 2 } });
    const { secret } = await admin.createKey(customer.id);
    for (let i = 0; i < 4; i++) expect((await get('/v1/search', secret)).status).toBe(200);
    const usage = await admin.request('GET', `/v1/customers/${customer.id}/usage`);
    expect(usage.body.meters[0]).toMatchObject({ meter: 'api_calls', total: 8, included: 2, remaining: 0, overage: 6, percentUsed: 400 });
  });

  it('exactly fills a block quota under concurrency on one instance', async () => {
    const customer = await admin.createCustomer('free', { overrides: { includedCalls: 10, rateLimit: ['1000/min'] } });
    const { secret } = await admin.createKey(customer.id);
    const responses = await Promise.all(Array.from({ length: 50 }, () => get('/v1/basic/echo', secret)));
    expect(responses.filter((response) => response.status === 200)).toHaveLength(10);
    expect(responses.filter((response) => response.status === 429)).toHaveLength(40);
    expect(await total(customer.id)).toBe(10);
  });

  it('ingests events over POST /v1/events: accepted, duplicate or rejected with a reason', async () => {
    const customer = await admin.createCustomer('pro');
    const now = new Date().toISOString();
    const body = {
      events: [
        { customerId: customer.id, meter: 'api_calls', quantity: 5, timestamp: now, idempotencyKey: 'e-1', properties: { route: '/x' } },
        { customerId: customer.id, quantity: 3, idempotencyKey: 'e-2' },
        { customerId: customer.id, quantity: 5, idempotencyKey: 'e-1' },
        { customerId: 'cus_nobody', idempotencyKey: 'e-3' },
        { customerId: customer.id, meter: 'tokens', idempotencyKey: 'e-4' },
        { customerId: customer.id, quantity: -1, idempotencyKey: 'e-5' },
        { customerId: customer.id, idempotencyKey: 'e-6', timestamp: '2020-01-01T00:00:00Z' },
        { customerId: customer.id, idempotencyKey: 'e-7', timestamp: new Date(Date.now() + 3600_000).toISOString() },
        { customerId: customer.id, quantity: 1 },
      ],
    };
    const response = await admin.request('POST', '/v1/events', body);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ accepted: 2, duplicates: 1, rejected: 6 });
    expect(response.body.results.map((r: { status: string }) => r.status)).toEqual([
      'accepted', 'accepted', 'duplicate', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected', 'rejected',
    ]);
    expect(response.body.results[3].reason).toContain('unknown customer');
    expect(response.body.results[4].reason).toContain('unknown meter');
    expect(response.body.results[6].reason).toContain('period_closed');
    expect(response.body.results[7].reason).toContain('future');
    expect(await total(customer.id)).toBe(8);

    const again = await admin.request('POST', '/v1/events', { events: body.events.slice(0, 2) });
    expect(again.body).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(await total(customer.id)).toBe(8);
  });

  it('answers malformed ingest bodies with 400', async () => {
    for (const body of [{}, { events: 'x' }, { events: [] }, { events: [1, 2] }, { events: Array.from({ length: 1001 }, () => ({})) }, { events: [{}], extra: 1 }]) {
      const response = await admin.request('POST', '/v1/events', body);
      expect([JSON.stringify(body).slice(0, 40), response.status]).toEqual([JSON.stringify(body).slice(0, 40), 400]);
    }
    const broken = await call('POST', `${service.url}/v1/events`, { bearer: 'test-admin-token-0123456789abcdef', body: '{"events": [' });
    expect(broken.status).toBe(400);
  });

  it('lets a key with the ingest scope report its own usage only', async () => {
    const customer = await admin.createCustomer('pro');
    const other = await admin.createCustomer('pro');
    const scoped = await admin.createKey(customer.id, { scopes: ['ingest'] });
    const plain = await admin.createKey(customer.id);
    const post = (apiKey: string, events: unknown[]) => call('POST', `${service.url}/v1/events`, { apiKey, body: { events } });
    expect((await post(plain.secret, [{ idempotencyKey: 'k1' }])).status).toBe(403);
    const own = await post(scoped.secret, [{ idempotencyKey: 'k1', quantity: 4 }, { customerId: other.id, idempotencyKey: 'k2' }]);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ accepted: 1, rejected: 1 });
    expect(await total(customer.id)).toBe(4);
    expect(await total(other.id)).toBe(0);
    expect((await call('POST', `${service.url}/v1/events`, { body: { events: [{}] } })).status).toBe(401);
  });

  it('reports usage for admins and key holders, with a daily series', async () => {
    const customer = await admin.customerWithKey('free');
    for (let i = 0; i < 3; i++) await get('/v1/basic/echo', customer.secret);
    const mine = await get('/v1/me/usage', customer.secret);
    expect(mine.status).toBe(200);
    expect(mine.body.meters[0]).toEqual({ meter: 'api_calls', total: 3, included: 1000, remaining: 997, overage: 0, percentUsed: 0.3 });
    const today = new Date().toISOString().slice(0, 10);
    expect(mine.body.daily).toEqual([{ date: today, meter: 'api_calls', quantity: 3 }]);
    const month = new Date().toISOString().slice(0, 7);
    const byMonth = await admin.request('GET', `/v1/customers/${customer.customerId}/usage?period=${month}`);
    expect(byMonth.body.meters[0].total).toBe(3);
    expect(byMonth.body.period.start).toBe(`${month}-01T00:00:00.000Z`);
    expect((await admin.request('GET', `/v1/customers/${customer.customerId}/usage?period=2026-13`)).status).toBe(400);
  });

  it('keeps the ledger append-only', async () => {
    await expect(database.query('UPDATE usage_events SET quantity = 0')).rejects.toThrow(/append-only/);
    await expect(database.query('DELETE FROM usage_events')).rejects.toThrow(/append-only/);
  });
});
