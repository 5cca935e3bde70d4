import { randomBytes } from 'node:crypto';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';

const TIMEOUT = 60_000;

describe('operator console: Stripe catalog vs tiers.yaml, sign-in limit', () => {
  let database: TestDatabase;
  let emulator: StripeEmulator;
  let service: TestApp;
  let admin: AdminClient;
  let cookie: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    emulator = await StripeEmulator.start();
    service = await startTestApp(database, {
      config: testConfig(database, { stripe: { secretKey: `sk_test_${randomBytes(12).toString('hex')}`, apiUrl: emulator.url, webhookSecret: null }, stripeMaxRequestsPerSecond: 1000 }),
    });
    admin = new AdminClient(service.url);
    const login = await call('POST', `${service.url}/console/api/login`, { body: { token: TEST_ADMIN_TOKEN } });
    expect(login.status).toBe(200);
    cookie = login.headers.get('set-cookie')!.split(';')[0];
  }, TIMEOUT);

  afterAll(async () => {
    await service?.close();
    await emulator?.stop();
    await database?.dispose();
  }, TIMEOUT);

  const state = async () => {
    const response = await call('GET', `${service.url}/console/api/provisioning`, { headers: { cookie } });
    expect(response.status).toBe(200);
    return response.body as { stripe: boolean; inSync: boolean; items: Array<{ kind: string; name: string; state: string }> };
  };

  it('shows everything missing before provisioning, and in sync after, without creating anything itself', async () => {
    const before = await state();
    expect(before.stripe).toBe(true);
    expect(before.inSync).toBe(false);
    expect(before.items.length).toBeGreaterThan(0);
    expect(new Set(before.items.map((item) => item.state))).toEqual(new Set(['missing']));
    // Reading the state twice created nothing: provisioning still creates every item.
    expect((await state()).items.every((item) => item.state === 'missing')).toBe(true);

    const provisioned = await admin.request('POST', '/v1/billing/provision');
    expect(provisioned.status).toBe(200);
    const after = await state();
    expect(after.inSync).toBe(true);
    expect(after.items.map((item) => item.name).sort()).toEqual(before.items.map((item) => item.name).sort());
    // Every kind provisioning reports as created is one the state listed.
    for (const created of provisioned.body.created as string[]) expect(after.items.some((item) => created === `${item.kind} ${item.name}`)).toBe(true);
  }, TIMEOUT);

  // Last in this file: it uses up this address's sign-in budget.
  it('limits sign-in attempts per address with the portal sign-in policy, before the token is compared', async () => {
    const { limit } = service.app.get(TollgateConfig).portalSignInRateLimit;
    const statuses: number[] = [];
    // One sign-in already happened in beforeAll.
    for (let attempt = 1; attempt < limit; attempt++) statuses.push((await call('POST', `${service.url}/console/api/login`, { body: { token: `guess-${attempt}` } })).status);
    expect(new Set(statuses)).toEqual(new Set([401]));
    const refused = await call('POST', `${service.url}/console/api/login`, { body: { token: TEST_ADMIN_TOKEN } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
  }, TIMEOUT);
});
