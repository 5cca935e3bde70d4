import type Stripe from 'stripe';
import type { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startStripe, stripeConfig, subscribeAndPay } from '../support/billing-app.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const CUSTOMERS = 12;

/**
 * Two instances sync concurrently while Stripe misbehaves: 20 % of meter-event calls fail with 500 (not
 * applied), 10 % are applied and then the connection is reset (the client never hears back), and bursts of
 * 429 arrive with and without Stripe-Should-Retry. In the end Stripe's total equals the local total for
 * every customer and meter, and no identifier was applied twice.
 */
describe('usage sync under Stripe faults, two instances', () => {
  let database: TestDatabase;
  let emulator: StripeEmulator;
  let first: TestApp;
  let second: TestApp;
  let admin: AdminClient;
  let stripe: Stripe;

  beforeAll(async () => {
    database = await createTestDatabase();
    ({ emulator, stripe } = await startStripe());
    first = await startTestApp(database, { config: stripeConfig(database, emulator) });
    second = await startTestApp(database, { config: stripeConfig(database, emulator) });
    admin = new AdminClient(first.url);
  });

  afterAll(async () => {
    await second.close();
    await first.close();
    await emulator.stop();
    await database.dispose();
  });

  it('ends with Stripe totals equal to local totals, every identifier applied once', async () => {
    await admin.request('POST', '/v1/billing/provision');
    const customers: Array<{ id: string; stripeCustomerId: string; currentPeriod: { start: string; end: string } }> = [];
    for (let i = 0; i < CUSTOMERS; i++) {
      const customer = await admin.createCustomer('free');
      customers.push(await subscribeAndPay(admin, emulator, customer.id, 'pro'));
    }

    emulator.faults = {
      ...emulator.faults,
      error500Rate: 0.2,
      resetAfterApplyRate: 0.1,
      rateLimitBurst: { remaining: 6, shouldRetryHeader: true },
      onlyPaths: /meter_events/,
    };
    const syncBoth = () => Promise.all([first, second].map((instance) => new AdminClient(instance.url).request('POST', '/v1/billing/sync')));

    // Usage arrives in rounds while both instances sync; bursts of 429 come back now and then. The faults are
    // random: at least 4 rounds, and more until each kind has really happened (a handful more at most).
    const seen = (status: number) => emulator.requests.some((r) => r.status === status);
    const everyFaultSeen = () => seen(500) && seen(429) && seen(0);
    let key = 0;
    for (let round = 0; round < 4 || (!everyFaultSeen() && round < 30); round++) {
      await Promise.all(
        customers.map((customer, i) =>
          admin.request('POST', '/v1/events', { events: [{ customerId: customer.id, quantity: 100 + i * 7 + round, idempotencyKey: `chaos-${key++}` }] }),
        ),
      );
      emulator.faults.rateLimitBurst = { remaining: 4, shouldRetryHeader: round % 2 === 0 ? null : false };
      const reports = await syncBoth();
      // The advisory lock lets one instance run; the other reports so (or runs after it).
      expect(reports.every((report) => report.status === 200)).toBe(true);
    }

    // Faults stop; keep syncing until nothing is pending.
    emulator.faults = { ...emulator.faults, error500Rate: 0, resetAfterApplyRate: 0, rateLimitBurst: { remaining: 0, shouldRetryHeader: null } };
    for (let attempt = 0; attempt < 10; attempt++) {
      const reports = await syncBoth();
      const pending = await database.query<{ count: string }>(`SELECT count(*)::text AS count FROM stripe_pushes WHERE status = 'pending'`);
      const ran = reports.filter((report) => report.body.ran);
      if (pending[0].count === '0' && ran.length > 0 && ran.every((report) => report.body.planned === 0)) break;
    }

    const meterId = (await stripe.billing.meters.list({ limit: 100 })).data.find((m) => m.event_name === 'tollgate_api_calls')!.id;
    const local = await database.query<{ customer_id: string; total: string }>(`SELECT customer_id, total::text FROM usage_counters`);
    for (const customer of customers) {
      const minute = 60_000;
      const stripeTotal = emulator.meterTotal(
        meterId,
        customer.stripeCustomerId,
        Math.ceil(Date.parse(customer.currentPeriod.start) / minute) * 60,
        Math.floor(Date.parse(customer.currentPeriod.end) / minute) * 60,
      );
      const localTotal = Number(local.find((row) => row.customer_id === customer.id)!.total);
      expect([customer.id, stripeTotal]).toEqual([customer.id, localTotal]);
    }
    const applied = [...emulator.appliedIdentifierCounts().values()];
    expect(applied.length).toBeGreaterThanOrEqual(CUSTOMERS);
    expect(Math.max(...applied)).toBe(1);
    // The faults really happened.
    expect(emulator.requests.filter((r) => r.status === 500).length).toBeGreaterThan(0);
    expect(emulator.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    expect(emulator.requests.filter((r) => r.status === 0).length).toBeGreaterThan(0);
  }, 120_000);
});
