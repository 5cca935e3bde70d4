import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';

/**
 * Two instances share one database (and one Redis when REDIS_URL is set; otherwise the embedded default:
 * two apps on one embedded database, invalidated by polling). A key revoked on one must stop working on
 * the other within a second, although the other has it cached.
 */
describe(`revocation across instances (${process.env.REDIS_URL ? 'Redis pub/sub' : 'database polling'})`, () => {
  let database: TestDatabase;
  let first: TestApp;
  let second: TestApp;
  let admin: AdminClient;

  beforeAll(async () => {
    database = await createTestDatabase();
    const shared = testConfig(database, { demo: true });
    first = await startTestApp(database, { config: shared });
    second = await startTestApp(database, { config: testConfig(database, { demo: true, redisPrefix: shared.redisPrefix }) });
    admin = new AdminClient(first.url);
  });

  afterAll(async () => {
    await second.close();
    await first.close();
    await database.dispose();
  });

  async function statusOn(instance: TestApp, secret: string): Promise<number> {
    return (await call('GET', `${instance.url}/v1/basic/echo`, { apiKey: secret })).status;
  }

  async function msUntilRefused(instance: TestApp, secret: string, limitMs: number): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < limitMs) {
      if ((await statusOn(instance, secret)) === 401) return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return Infinity;
  }

  it('a revoked key stops working on the other instance within 1 s', async () => {
    const customer = await admin.customerWithKey('free');
    // Warm both caches.
    expect(await statusOn(first, customer.secret)).toBe(200);
    expect(await statusOn(second, customer.secret)).toBe(200);
    expect(await statusOn(second, customer.secret)).toBe(200);

    const revoked = await admin.request('DELETE', `/v1/customers/${customer.customerId}/keys/${customer.keyId}`);
    expect(revoked.body.status).toBe('revoked');
    expect(await statusOn(first, customer.secret)).toBe(401);
    const elapsed = await msUntilRefused(second, customer.secret, 3000);
    expect(elapsed).toBeLessThan(1000);
  });

  it('a suspension on one instance reaches the other within 1 s', async () => {
    const customer = await admin.customerWithKey('free');
    expect(await statusOn(second, customer.secret)).toBe(200);
    await admin.request('PATCH', `/v1/customers/${customer.customerId}`, { status: 'suspended' });
    expect(await msUntilRefused(second, customer.secret, 3000)).toBeLessThan(1000);
  });

  it('revokes many keys at once without a miss', async () => {
    const customers = await Promise.all(Array.from({ length: 10 }, () => admin.customerWithKey('free')));
    for (const customer of customers) expect(await statusOn(second, customer.secret)).toBe(200);
    await Promise.all(customers.map((c) => admin.request('DELETE', `/v1/customers/${c.customerId}/keys/${c.keyId}`)));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const statuses = await Promise.all(customers.map((c) => statusOn(second, c.secret)));
    expect(statuses).toEqual(customers.map(() => 401));
  });
});
