import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type Stripe from 'stripe';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import type { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { startStripe, stripeConfig, subscribeAndPay } from '../support/billing-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../support/test-app.js';

const TIMEOUT = 60_000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** More than the emulator's meter event processing delay (60 s by default). */
const PAST_THE_LAG = 120;

describe('operator console with Stripe: catalog vs tiers.yaml, drift, sign-in limit', () => {
  let database: TestDatabase;
  let emulator: StripeEmulator;
  let stripe: Stripe;
  let service: TestApp;
  let admin: AdminClient;
  let cookie: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    ({ emulator, stripe } = await startStripe());
    service = await startTestApp(database, { config: stripeConfig(database, emulator) });
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

  it('highlights a counter whose Stripe total drifted, and lists it as needing attention', async () => {
    const customer = await subscribeAndPay(admin, emulator, (await admin.createCustomer('free', { name: 'Drifty' })).id, 'pro');
    expect((await admin.request('POST', '/v1/events', { events: [{ customerId: customer.id, quantity: 500, idempotencyKey: 'drift-1' }] })).status).toBe(200);
    await admin.request('POST', '/v1/billing/sync');
    await emulator.advanceBy(PAST_THE_LAG);
    await database.query(`UPDATE stripe_pushes SET sent_at = sent_at - interval '10 minutes' WHERE customer_id = $1`, [customer.id]);
    // Someone cancels the usage in Stripe: once Stripe has processed it, the totals no longer agree.
    const [push] = (await admin.request('GET', '/v1/billing/pushes')).body.data.filter((candidate: { customerId: string }) => candidate.customerId === customer.id);
    await stripe.billing.meterEventAdjustments.create({ event_name: 'tollgate_api_calls', type: 'cancel', cancel: { identifier: push.identifier } });
    await emulator.advanceBy(PAST_THE_LAG);
    const reconciliation = (await call('GET', `${service.url}/console/api/reconciliation`, { headers: { cookie } })).body;
    expect(reconciliation.rows.find((row: { customerId: string }) => row.customerId === customer.id)).toMatchObject({ stripeTotal: 0, drift: 500 });

    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await context.addCookies([{ name: 'tg_console_session', value: cookie.split('=')[1], url: `${service.url}/console/` }]);
      const page = await context.newPage();
      await page.goto(`${service.url}/console/#overview`);
      const item = page.locator('[data-kind="drift"]');
      await item.waitFor();
      expect(await item.textContent()).toContain(customer.id);
      await page.goto(`${service.url}/console/#billing`);
      const highlighted = page.locator('tr.drift').filter({ hasText: customer.id });
      await highlighted.waitFor();
      expect(await highlighted.locator('td').last().textContent()).toBe('500');
    } finally {
      await browser.close();
    }
  }, TIMEOUT);

  // Last in this file: it uses up this address's sign-in budget.
  it('limits sign-in attempts per address with the portal sign-in policy, before the token is compared', async () => {
    const { limit } = service.app.get(TollgateConfig).portalSignInRateLimit;
    // A burst of twice the limit at once: whatever refilled since beforeAll's sign-in (one attempt back per
    // window/limit), the budget never holds more than `limit`, so at least `limit` guesses are refused unread.
    const statuses = await Promise.all(
      Array.from({ length: 2 * limit }, (_, attempt) => call('POST', `${service.url}/console/api/login`, { body: { token: `guess-${attempt}` } }).then((answer) => answer.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([401, 429]));
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(limit);
    // The budget is spent: even the right token is refused before it is compared.
    const refused = await call('POST', `${service.url}/console/api/login`, { body: { token: TEST_ADMIN_TOKEN } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
  }, TIMEOUT);
});
