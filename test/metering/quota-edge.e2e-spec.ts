import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { until } from '../support/wait.js';
import { probe, QuotaEdgeProbeModule } from './quota-edge-probe.module.js';

/**
 * The edges of quotas and caps over HTTP, at the product's defaults: a retry of the request that took the last
 * unit, duplicates in flight, the quota 429's Retry-After, hostile costs, a counter at its cap, and totals past
 * 2^53 shown exactly.
 */
describe('quota and cap edges over HTTP', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  const get = (path: string, apiKey: string, headers: Record<string, string> = {}, url = service.url) => call('GET', `${url}${path}`, { apiKey, headers });
  const counter = async (customerId: string) =>
    (await database.query<{ total: string | null }>('SELECT sum(total)::text AS total FROM usage_counters WHERE customer_id = $1', [customerId]))[0].total ?? '0';
  const rows = async (customerId: string) =>
    Number((await database.query<{ count: string }>('SELECT count(*)::text AS count FROM usage_events WHERE customer_id = $1', [customerId]))[0].count);
  const customerWithKey = async (tier: string, overrides: Record<string, unknown>) => {
    const customer = await admin.createCustomer(tier, { overrides });
    return { id: customer.id, secret: (await admin.createKey(customer.id)).secret };
  };
  /** Usage as it would be in a database written before the caps (or under a raised TOLLGATE_MAX_COUNTER_TOTAL). */
  const seedUsage = async (customerId: string, quantities: bigint[]) => {
    const now = new Date();
    const periodStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const periodEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    for (const [index, quantity] of quantities.entries()) {
      await database.query(
        `INSERT INTO usage_events (customer_id, meter, quantity, idempotency_key, occurred_at, period_start) VALUES ($1, 'api_calls', $2, $3, now(), $4)`,
        [customerId, String(quantity), `seed:${index}`, periodStart.toISOString()],
      );
      // The rest of what the ledger statement writes with an event: its claimed key and its daily rollup.
      await database.query(`INSERT INTO usage_event_keys (customer_id, idempotency_key, period_start) VALUES ($1, $2, $3)`, [customerId, `seed:${index}`, periodStart.toISOString()]);
      await database.query(
        `INSERT INTO usage_daily (customer_id, period_start, day, meter, quantity) VALUES ($1, $2, (now() AT TIME ZONE 'UTC')::date, 'api_calls', $3)
         ON CONFLICT (customer_id, period_start, day, meter) DO UPDATE SET quantity = usage_daily.quantity + EXCLUDED.quantity`,
        [customerId, periodStart.toISOString(), String(quantity)],
      );
    }
    await database.query(`INSERT INTO usage_counters (customer_id, meter, period_start, period_end, total) VALUES ($1, 'api_calls', $2, $3, $4)`, [
      customerId,
      periodStart.toISOString(),
      periodEnd.toISOString(),
      String(quantities.reduce((sum, quantity) => sum + quantity, 0n)),
    ]);
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database), imports: [QuotaEdgeProbeModule] });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service?.close();
    await database?.dispose();
  });

  it('serves a retry of the request that used the last unit, on any instance, without counting it again', async () => {
    const customer = await customerWithKey('free', { includedCalls: 2 });
    expect((await get('/v1/basic/edge', customer.secret)).status).toBe(200);
    const last = await get('/v1/basic/edge', customer.secret, { 'idempotency-key': 'order-7' });
    expect([last.status, last.headers.get('x-quota-remaining')]).toEqual([200, '0']);

    const served = probe.served;
    const retry = await get('/v1/basic/edge', customer.secret, { 'idempotency-key': 'order-7' });
    expect([retry.status, retry.headers.get('x-quota-remaining'), retry.headers.get('retry-after')]).toEqual([200, '0', null]);
    // Another instance, which never saw the original: it finds the event in the ledger.
    const second = await startTestApp(database, { config: testConfig(database), imports: [QuotaEdgeProbeModule] });
    try {
      const elsewhere = await get('/v1/basic/edge', customer.secret, { 'idempotency-key': 'order-7' }, second.url);
      expect([elsewhere.status, elsewhere.headers.get('x-quota-remaining')]).toEqual([200, '0']);
    } finally {
      await second.close();
    }
    expect(probe.served).toBe(served + 2);
    expect([await counter(customer.id), await rows(customer.id)]).toEqual(['2', 2]);
    // A new request is still refused; a key never recorded is a new request too.
    expect((await get('/v1/basic/edge', customer.secret)).status).toBe(429);
    expect((await get('/v1/basic/edge', customer.secret, { 'idempotency-key': 'order-8' })).status).toBe(429);
  });

  it('does not reserve a duplicate in flight twice: four copies of one request and another fill a quota of 2', async () => {
    const customer = await customerWithKey('free', { includedCalls: 2 });
    probe.hold();
    const copies = Array.from({ length: 4 }, () => get('/v1/basic/edge-slow', customer.secret, { 'idempotency-key': 'job-1' }));
    const other = get('/v1/basic/edge-slow', customer.secret);
    // All five are admitted and inside the handler at once: the copies hold one reservation between them.
    await until(() => probe.waiting === 5, 5_000).finally(() => probe.open());
    const statuses = (await Promise.all([...copies, other])).map((response) => response.status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    expect([await counter(customer.id), await rows(customer.id)]).toEqual(['2', 2]);
  });

  it("shows a duplicate the committed quota state, not other requests' reservations", async () => {
    const customer = await customerWithKey('free', { includedCalls: 10 });
    expect((await get('/v1/basic/edge', customer.secret, { 'idempotency-key': 'k-1' })).headers.get('x-quota-remaining')).toBe('9');
    probe.hold();
    const slow = get('/v1/basic/edge-slow', customer.secret);
    await until(() => probe.waiting === 1, 5_000);
    try {
      const duplicate = await get('/v1/basic/edge', customer.secret, { 'idempotency-key': 'k-1' });
      expect([duplicate.status, duplicate.headers.get('x-quota-remaining')]).toEqual([200, '9']);
    } finally {
      probe.open();
    }
    expect((await slow).headers.get('x-quota-remaining')).toBe('8');
  });

  it('answers a quota 429 with Retry-After: the seconds until the period ends, as X-Quota-Reset says', async () => {
    const customer = await customerWithKey('free', { includedCalls: 1 });
    expect((await get('/v1/basic/edge', customer.secret)).status).toBe(200);
    const refused = await get('/v1/basic/edge', customer.secret);
    const now = new Date();
    const periodEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toBe('quota_exceeded');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBe(Number(refused.headers.get('x-quota-reset')));
    expect(refused.body.retryAfter).toBe(retryAfter);
    expect(Math.abs(retryAfter - Math.ceil((periodEnd - now.getTime()) / 1000))).toBeLessThanOrEqual(2);
  });

  it('refuses a hostile or broken cost with 400 before it weighs on anything', async () => {
    const customer = await customerWithKey('pro', {});
    const served = probe.served;
    for (const cost of ['1000000000001', '9007199254740991', '9007199254740993', '-1', '1.5', 'NaN']) {
      const response = await get(`/v1/basic/edge-priced?cost=${cost}`, customer.secret);
      expect([cost, response.status, response.body.error]).toEqual([cost, 400, 'invalid_cost']);
    }
    expect(probe.served).toBe(served);
    expect(await counter(customer.id)).toBe('0');
    // Nothing was charged to the rate limit either: a fair request sees the whole burst.
    const fair = await get('/v1/basic/edge-priced?cost=3', customer.secret);
    expect([fair.status, fair.headers.get('x-ratelimit-remaining')]).toEqual([200, '97']);
    expect(await counter(customer.id)).toBe('3');
  });

  it('refuses metered calls of a customer whose counter is at its cap, before the handler runs', async () => {
    const customer = await customerWithKey('pro', {});
    await seedUsage(customer.id, [BigInt(Number.MAX_SAFE_INTEGER)]);
    const served = probe.served;
    const refused = await get('/v1/basic/edge', customer.secret);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toBe('usage_limit_reached');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(probe.served).toBe(served);
    expect(await counter(customer.id)).toBe(String(Number.MAX_SAFE_INTEGER));
  });

  it('answers 429 usage_limit_reached, not 500, when the counter fills up while the request is served', async () => {
    const customer = await customerWithKey('pro', {});
    await seedUsage(customer.id, [BigInt(Number.MAX_SAFE_INTEGER) - 1n]);
    probe.hold();
    const pending = get('/v1/basic/edge-slow', customer.secret);
    await until(() => probe.waiting === 1, 5_000);
    // Meanwhile another instance takes the last unit.
    await database.query('UPDATE usage_counters SET total = total + 1 WHERE customer_id = $1', [customer.id]);
    probe.open();
    const response = await pending;
    expect([response.status, response.body.error]).toEqual([429, 'usage_limit_reached']);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await counter(customer.id)).toBe(String(Number.MAX_SAFE_INTEGER));
    expect(await rows(customer.id)).toBe(1);
  });

  it('shows totals past 2^53 exactly, as decimal strings, in every API', async () => {
    const customer = await customerWithKey('pro', {});
    await seedUsage(customer.id, [BigInt(Number.MAX_SAFE_INTEGER), 2n]); // 2^53 + 1
    const exact = '9007199254740993';
    const usage = await admin.request('GET', `/v1/customers/${customer.id}/usage`);
    expect(usage.body.meters.find((meter: { meter: string }) => meter.meter === 'api_calls')).toEqual({
      meter: 'api_calls',
      total: exact,
      included: 50000,
      remaining: 0,
      overage: 9007199254690993, // below 2^53: a number, exact
      percentUsed: 18014398509481.99,
    });
    expect(usage.body.daily).toEqual([{ date: new Date().toISOString().slice(0, 10), meter: 'api_calls', quantity: exact }]);
    const mine = await get('/v1/me/usage', customer.secret);
    expect(mine.body.meters[0].total).toBe(exact);
    const invoice = await admin.request('GET', `/v1/customers/${customer.id}/invoice-preview`);
    expect(invoice.status).toBe(200);
    // 9 007 199 254 690 993 calls of overage at $0.002 = $18 014 398 509 381.986, rounded per line; plus $49.
    expect(invoice.body.lines[1]).toMatchObject({ quantity: 9007199254690993, amount: '18014398509381.99' });
    expect(invoice.body.total).toBe('18014398509430.99');
  });
});
