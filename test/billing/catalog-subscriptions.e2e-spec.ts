import { jest } from '@jest/globals';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import { BILLING_DRIFT_DETECTED, type DriftDetectedEvent } from 'tollgate';
import { CatalogProvisioner } from '../../src/billing/catalog.provisioner.js';
import { stripeNames } from '../../src/billing/stripe.client.js';
import { parseTierCatalog } from '../../src/config/tier-catalog.js';
import { TiersService } from '../../src/tiers/tiers.service.js';
import type { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { connectWebhooks, startStripe, stripeConfig, subscribeAndPay } from '../support/billing-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestApp, type TestApp, testConfig } from '../support/test-app.js';

/** A catalog with every kind of overage: per unit, volume and graduated bands (with a flat fee), at one included quantity. */
const bands = (mode: 'volume' | 'graduated') => `
    overage:
      mode: ${mode}
      bands:
        - { up_to: 1000, unit_price: $0.01 }
        - { up_to: 4000, unit_price: $0.005, flat_fee: 2 }
        - { up_to: inf, unit_price: $0.002 }`;
const CATALOG = `
tiers:
  free:
    price: 0
    included_calls: 1000/month
    rate_limit: 10/min
    endpoints: [/v1/basic/*]
  pro:
    price: 49/month
    included_calls: 50000/month
    rate_limit: 100/min
    endpoints: [/v1/*]
    overage: $0.002/call
  volume:
    price: 10/month
    included_calls: 1000/month
    rate_limit: 100/min
    endpoints: [/v1/*]${bands('volume')}
  graduated:
    price: 10/month
    included_calls: 1000/month
    rate_limit: 100/min
    endpoints: [/v1/*]${bands('graduated')}
`;

interface Harness {
  database: TestDatabase;
  emulator: StripeEmulator;
  stripe: Stripe;
  service: TestApp;
  admin: AdminClient;
  drifts: DriftDetectedEvent[];
}

async function startHarness(): Promise<Harness> {
  const database = await createTestDatabase();
  const { emulator, stripe } = await startStripe();
  const service = await startTestApp(database, { config: stripeConfig(database, emulator, { catalog: parseTierCatalog(CATALOG) }) });
  connectWebhooks(emulator, service.url);
  const admin = new AdminClient(service.url);
  const drifts: DriftDetectedEvent[] = [];
  service.app.get(EventEmitter2).on(BILLING_DRIFT_DETECTED, (event: DriftDetectedEvent) => drifts.push(event));
  expect((await admin.request('POST', '/v1/billing/provision')).status).toBe(200);
  return { database, emulator, stripe, service, admin, drifts };
}

async function stopHarness(harness: Harness | undefined): Promise<void> {
  await harness?.service.close();
  await harness?.emulator.stop();
  await harness?.database.dispose();
}

const ingest = (admin: AdminClient, customerId: string, quantity: number, key: string) =>
  admin.request('POST', '/v1/events', { events: [{ customerId, quantity, idempotencyKey: key }] });

describe('volume and graduated overage: Stripe’s finalized invoice equals Tollgate’s preview, to the cent', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => stopHarness(h));

  it('at every band edge, and usage that missed the invoice raises billing.drift_detected when it finalizes', async () => {
    // Total usage at the edges of the provisioned tiers: [0, 1000] free, (1000, 2000], (2000, 5000] (flat 2.00), beyond.
    const quantities = [1000, 1001, 2000, 2001, 5000, 5001];
    const cases: Array<{ mode: string; quantity: number; customerId: string; stripeCustomerId: string; previewMinor: number; previewTotal: string }> = [];
    // Customers sign up side by side (as they do); cases keep the listed order.
    const signUps = ['volume', 'graduated'].flatMap((mode) => quantities.map((quantity) => ({ mode, quantity })));
    const [late, ...subscribed] = await Promise.all(
      [{ mode: 'graduated', quantity: 0 }, ...signUps].map(async ({ mode }) => subscribeAndPay(h.admin, h.emulator, (await h.admin.createCustomer('free')).id, mode)),
    );
    for (const [index, { mode, quantity }] of signUps.entries()) {
      const customer = subscribed[index];
      expect(customer.tier).toBe(mode);
      await ingest(h.admin, customer.id, quantity, `${mode}-${quantity}`);
      cases.push({ mode, quantity, customerId: customer.id, stripeCustomerId: customer.stripeCustomerId, previewMinor: 0, previewTotal: '' });
    }
    // One more customer (late): 700 calls recorded, only 500 of them reach Stripe before its invoice finalizes.
    await ingest(h.admin, late.id, 500, 'late-1');

    expect((await h.admin.request('POST', '/v1/billing/sync')).body).toMatchObject({ ran: true, dryRun: false });
    for (const entry of cases) {
      const preview = (await h.admin.request('GET', `/v1/customers/${entry.customerId}/invoice-preview`)).body;
      entry.previewMinor = preview.totalMinor;
      entry.previewTotal = preview.total;
    }
    // Hand-computed (tiers.yaml bands shifted by the 1000 included): volume bills every unit at the band's price.
    expect(cases.map((entry) => `${entry.mode} ${entry.quantity}: ${entry.previewTotal}`)).toEqual([
      'volume 1000: 10.00',
      'volume 1001: 20.01',
      'volume 2000: 30.00',
      'volume 2001: 22.01',
      'volume 5000: 37.00',
      'volume 5001: 20.00',
      'graduated 1000: 10.00',
      'graduated 1001: 10.01',
      'graduated 2000: 20.00',
      'graduated 2001: 22.01',
      'graduated 5000: 37.00',
      'graduated 5001: 37.00',
    ]);

    await ingest(h.admin, late.id, 200, 'late-2');
    // Meter events cannot reach Stripe from here on (whatever tries to push them), so those 200 miss the invoice.
    h.emulator.faults = { ...h.emulator.faults, unauthorizedUntilMs: Date.now() + 3_600_000, onlyPaths: /meter_events/ };
    try {
      const periodEnd = Math.max(...[...cases.map((entry) => entry.stripeCustomerId), late.stripeCustomerId].map((id) => periodEndOf(h.emulator, id)));
      // Past the period end and the 1 h finalization grace: every renewal invoice is final (and paid).
      await h.emulator.advanceTo(periodEnd + 3600 + 120);
    } finally {
      h.emulator.faults = { ...h.emulator.faults, unauthorizedUntilMs: 0, onlyPaths: undefined };
    }

    for (const entry of cases) {
      const invoice = cycleInvoice(h.emulator, entry.stripeCustomerId);
      expect({ case: `${entry.mode} ${entry.quantity}`, total: invoice.total }).toEqual({ case: `${entry.mode} ${entry.quantity}`, total: entry.previewMinor });
    }
    // No false alarm where everything was invoiced; the one that missed names the invoice and the difference.
    expect(h.drifts.filter((drift) => drift.customerId !== late.id)).toEqual([]);
    const invoice = cycleInvoice(h.emulator, late.stripeCustomerId);
    expect(h.drifts).toEqual([
      expect.objectContaining({ customerId: late.id, meter: 'api_calls', pushedTotal: 700, stripeTotal: 500, drift: 200, invoiceId: invoice.id }),
    ]);
    const alerts = await h.database.query<{ kind: string; audience: string; subject: string }>(
      `SELECT kind, audience, subject FROM notifications WHERE customer_id = $1 AND kind = 'billing.drift_detected'`,
      [late.id],
    );
    expect(alerts).toEqual([expect.objectContaining({ audience: 'operator', subject: expect.stringContaining(invoice.id) })]);
  });
});

/** The end of the customer's only subscription's current period (Unix seconds). */
function periodEndOf(emulator: StripeEmulator, stripeCustomerId: string): number {
  const [first] = emulator.invoices({ customer: stripeCustomerId });
  return first.lines.data[0].period.end;
}

/** The renewal invoice of the period that ended (finalized). */
function cycleInvoice(emulator: StripeEmulator, stripeCustomerId: string) {
  const invoices = emulator.invoices({ customer: stripeCustomerId }).filter((invoice) => invoice.billing_reason === 'subscription_cycle');
  expect(invoices).toHaveLength(1);
  expect(invoices[0].status).not.toBe('draft');
  return invoices[0];
}

describe('provisioning notices every change of a price', () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  beforeAll(async () => {
    ({ emulator, stripe } = await startStripe());
  });
  afterAll(() => emulator.stop());

  const provisioner = (yaml: string) => new CatalogProvisioner(stripe, new TiersService(testConfig(null, { catalog: parseTierCatalog(yaml) })));
  const tier = (body: string) => `
tiers:
  free: { price: 0, included_calls: 100, rate_limit: 10/min, endpoints: [/v1/basic/*] }
  metered:
${body}
    rate_limit: 10/min
    endpoints: [/v1/*]
`;
  const live = async (lookupKey: string) => {
    const found = (await stripe.prices.list({ lookup_keys: [lookupKey], active: true, expand: ['data.tiers'] })).data;
    expect(found).toHaveLength(1);
    return found[0];
  };
  const terms = (price: Stripe.Price) => ({
    currency: price.currency,
    interval: price.recurring?.interval,
    unit: price.unit_amount,
    mode: price.tiers_mode,
    tiers: price.tiers?.map((t) => [t.up_to, String(t.unit_amount_decimal), t.flat_amount]),
  });

  it('creates a new price for a change of amount, tiers, mode, interval or currency, moves the lookup key and archives the old', async () => {
    const versions = [
      '    price: 20/month\n    included_calls: 100/month\n    overage: $0.01/call',
      '    price: 25/month\n    included_calls: 100/month\n    overage: $0.01/call', // base amount
      '    price: 25/month\n    included_calls: 200/month\n    overage: $0.01/call', // tiers (included)
      `    price: 25/month\n    included_calls: 200/month\n    overage:\n      mode: graduated\n      bands: [{ up_to: 10, unit_price: $0.01, flat_fee: 1 }, { up_to: inf, unit_price: $0.02 }]`,
      `    price: 25/month\n    included_calls: 200/month\n    overage:\n      mode: volume\n      bands: [{ up_to: 10, unit_price: $0.01, flat_fee: 1 }, { up_to: inf, unit_price: $0.02 }]`, // mode
      `    price: 25/year\n    included_calls: 200/month\n    overage:\n      mode: volume\n      bands: [{ up_to: 10, unit_price: $0.01, flat_fee: 1 }, { up_to: inf, unit_price: $0.02 }]`, // interval
      `    price: 25/year\n    included_calls: 200/month\n    overage:\n      mode: volume\n      bands: [{ up_to: 10, unit_price: 0.01 eur/call, flat_fee: 1 }, { up_to: inf, unit_price: 0.02 eur/call }]`, // currency
    ];
    const seen: Array<{ base: ReturnType<typeof terms>; metered: ReturnType<typeof terms> }> = [];
    for (const [index, version] of versions.entries()) {
      const report = await provisioner(tier(version)).provision();
      const base = await live('tollgate_metered_base');
      const metered = await live('tollgate_metered_api_calls');
      seen.push({ base: terms(base), metered: terms(metered) });
      if (index > 0) expect(report.created.filter((item) => item.startsWith('price ')).length).toBeGreaterThanOrEqual(1);
      // Exactly one active price per lookup key: the replaced one is archived.
      for (const price of (await stripe.prices.list({ product: 'tollgate_metered', active: true, limit: 100 })).data) {
        expect([base.id, metered.id]).toContain(price.id);
      }
      // A second run finds everything as it is.
      const again = await provisioner(tier(version)).provision();
      expect(again.created).toEqual([]);
    }
    expect(seen.map((entry) => entry.base)).toEqual([
      expect.objectContaining({ unit: 2000, interval: 'month', currency: 'usd' }),
      expect.objectContaining({ unit: 2500, interval: 'month' }),
      expect.objectContaining({ unit: 2500, interval: 'month' }),
      expect.objectContaining({ unit: 2500, interval: 'month' }),
      expect.objectContaining({ unit: 2500, interval: 'month' }),
      expect.objectContaining({ unit: 2500, interval: 'year' }),
      expect.objectContaining({ unit: 2500, interval: 'year' }),
    ]);
    expect(seen.map((entry) => entry.metered)).toEqual([
      { currency: 'usd', interval: 'month', unit: null, mode: 'graduated', tiers: [[100, '0', null], [null, '1', null]] },
      { currency: 'usd', interval: 'month', unit: null, mode: 'graduated', tiers: [[100, '0', null], [null, '1', null]] },
      { currency: 'usd', interval: 'month', unit: null, mode: 'graduated', tiers: [[200, '0', null], [null, '1', null]] },
      { currency: 'usd', interval: 'month', unit: null, mode: 'graduated', tiers: [[200, '0', null], [210, '1', 100], [null, '2', null]] },
      { currency: 'usd', interval: 'month', unit: null, mode: 'volume', tiers: [[200, '0', null], [210, '1', 100], [null, '2', null]] },
      // The metered price follows the base price's interval.
      { currency: 'usd', interval: 'year', unit: null, mode: 'volume', tiers: [[200, '0', null], [210, '1', 100], [null, '2', null]] },
      { currency: 'eur', interval: 'year', unit: null, mode: 'volume', tiers: [[200, '0', null], [210, '1', 100], [null, '2', null]] },
    ]);
  });

  it('going back to an earlier price within 24 h makes a new price, not the replay of the first one', async () => {
    const a = tier('    price: 30/month\n    included_calls: 100/month\n    overage: $0.01/call').replace('metered:', 'backforth:');
    const b = a.replace('price: 30/month', 'price: 31/month');
    await provisioner(a).provision();
    const first = await live('tollgate_backforth_base');
    await provisioner(b).provision();
    await provisioner(a).provision();
    const third = await live('tollgate_backforth_base');
    expect(third.id).not.toBe(first.id);
    expect(third).toMatchObject({ unit_amount: 3000, active: true, lookup_key: 'tollgate_backforth_base' });
    const creates = emulator.requests.filter((request) => request.method === 'POST' && request.path === '/v1/prices');
    expect(creates.every((request) => request.status === 200)).toBe(true);
  });

  it('archives a replaced price made by an earlier Tollgate (no lookup-key metadata on it)', async () => {
    await stripe.products.create({ id: 'tollgate_legacy', name: 'legacy plan' });
    const old = await stripe.prices.create({
      product: 'tollgate_legacy',
      currency: 'usd',
      unit_amount: 1000,
      recurring: { interval: 'month' },
      lookup_key: 'tollgate_legacy_base',
      metadata: { tollgate_tier: 'legacy', tollgate_kind: 'base' },
    });
    const report = await provisioner(tier('    price: 20/month\n    included_calls: 100/month\n    overage: $0.01/call').replace('metered:', 'legacy:')).provision();
    expect(report.deactivated).toContain(`price ${old.id} (tollgate_legacy_base)`);
    expect(await stripe.prices.retrieve(old.id)).toMatchObject({ active: false, lookup_key: null });
    expect(await live('tollgate_legacy_base')).toMatchObject({ unit_amount: 2000 });
  });

  it('lists lookup keys 10 at a time (a tier with 11 metered meters has 12 prices)', async () => {
    const names = Array.from({ length: 11 }, (_, i) => `m${i}`);
    const yaml = `
meters:
${names.map((name) => `  ${name}: { aggregation: sum, unit: unit }`).join('\n')}
tiers:
  free: { price: 0, included_calls: 100, rate_limit: 10/min, endpoints: [/v1/basic/*] }
  many:
    price: 5/month
    included_calls: 100/month
    overage: $0.01/call
    rate_limit: 10/min
    endpoints: [/v1/*]
    meters:
${names.map((name) => `      ${name}: { included: 10/month, overage: $0.001/unit }`).join('\n')}
`;
    const first = await provisioner(yaml).provision();
    expect(first.created.filter((item) => item.startsWith('price tollgate_many_'))).toHaveLength(13);
    const again = await provisioner(yaml).provision();
    expect(again.created).toEqual([]);
    const lists = emulator.requests.filter((request) => request.method === 'GET' && request.path === '/v1/prices');
    expect(lists.every((request) => request.status === 200)).toBe(true);
  });
});

describe('subscriptions: the tier follows the subscription’s status', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => stopHarness(h));

  const view = async (id: string) => (await h.admin.request('GET', `/v1/customers/${id}`)).body;

  it('answers 202 for an incomplete subscription (no card), grants nothing, and grants the tier once the invoice is paid', async () => {
    const customer = await h.admin.createCustomer('free');
    const subscribed = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' });
    expect(subscribed.status).toBe(202);
    expect(subscribed.body).toMatchObject({
      tier: 'free',
      subscription: {
        status: 'incomplete',
        latestInvoice: { status: 'open', amountDue: 4900, hostedInvoiceUrl: expect.stringMatching(/^http/) },
        nextStep: expect.stringContaining('pays it'),
      },
    });
    expect((await view(customer.id)).tier).toBe('free');

    h.emulator.setPaymentOutcome(subscribed.body.stripeCustomerId, 'succeeds');
    await h.emulator.payInvoice(subscribed.body.subscription.latestInvoice.id);
    expect(await view(customer.id)).toMatchObject({ tier: 'pro', stripeSubscriptionId: subscribed.body.subscription.id, currentPeriod: expect.any(Object) });
  });

  it('answers 200 and grants at once when the first invoice is paid on creation', async () => {
    const customer = await h.admin.createCustomer('free');
    const first = await subscribeAndPay(h.admin, h.emulator, customer.id, 'pro');
    // Back to free through Stripe, then a new subscription: the card on file pays it at once.
    await h.stripe.subscriptions.cancel(first.stripeSubscriptionId);
    await h.emulator.flush();
    expect((await view(customer.id)).tier).toBe('free');
    const again = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ tier: 'pro', subscription: { status: 'active', nextStep: null } });
    // Re-subscribing within Stripe's 24 h key memory is a NEW subscription, not the replay of the canceled one.
    expect(again.body.subscription.id).not.toBe(first.stripeSubscriptionId);
    expect((await h.stripe.subscriptions.retrieve(again.body.subscription.id)).status).toBe('active');
    const creates = h.emulator.requests.filter((request) => request.method === 'POST' && request.path === '/v1/subscriptions');
    expect(new Set(creates.map((request) => request.idempotencyKey)).size).toBe(creates.length);
  });

  it('makes one subscription when subscribe calls for a customer race on two instances', async () => {
    const second = await startTestApp(h.database, { config: stripeConfig(h.database, h.emulator, { catalog: parseTierCatalog(CATALOG) }) });
    try {
      const customer = await h.admin.createCustomer('free');
      const admins = [h.admin, new AdminClient(second.url)];
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => admins[i % 2].request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' })),
      );
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.every((status) => status === 202 || status === 409)).toBe(true);
      expect(statuses).toContain(202);
      const stripeCustomerId = (await view(customer.id)).stripeCustomerId;
      const subscriptions = (await h.stripe.subscriptions.list({ customer: stripeCustomerId, status: 'all' })).data;
      expect(subscriptions).toHaveLength(1);
      expect(new Set(answers.filter((answer) => answer.status === 202).map((answer) => answer.body.subscription.id))).toEqual(new Set([subscriptions[0].id]));
    } finally {
      await second.close();
    }
  });

  it('finds the subscription of an attempt whose answer was lost, instead of making a second one', async () => {
    const customer = await h.admin.createCustomer('free');
    // The create is applied in Stripe, but every answer (and the replays of the retries) is lost.
    h.emulator.faults = { ...h.emulator.faults, resetAfterApplyRate: 1, onlyPaths: /^\/v1\/subscriptions$/ };
    try {
      const lost = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' });
      expect(lost.status).toBeGreaterThanOrEqual(500);
    } finally {
      h.emulator.faults = { ...h.emulator.faults, resetAfterApplyRate: 0, onlyPaths: undefined };
    }
    const creates = h.emulator.requests.filter((request) => request.method === 'POST' && request.path === '/v1/subscriptions' && request.status === 0);
    expect(new Set(creates.slice(-3).map((request) => request.idempotencyKey)).size).toBe(1); // retried with one key
    // Right away, the open attempt may still be running elsewhere: 409. Later it is recovered.
    expect((await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' })).status).toBe(409);
    await h.database.query(`UPDATE stripe_subscribe_attempts SET created_at = now() - interval '11 minutes' WHERE customer_id = $1`, [customer.id]);
    // Stripe's customer.subscription.created webhook would tell too; here it has not arrived (yet).
    await h.database.query(`UPDATE customers SET stripe_subscription_id = NULL, period_start = NULL, period_end = NULL WHERE id = $1`, [customer.id]);
    const again = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' });
    expect(again.status).toBe(202);
    const stripeCustomerId = (await view(customer.id)).stripeCustomerId;
    const subscriptions = (await h.stripe.subscriptions.list({ customer: stripeCustomerId, status: 'all' })).data;
    expect(subscriptions).toHaveLength(1);
    expect(again.body.subscription.id).toBe(subscriptions[0].id);
  });

  it('refuses to subscribe a customer whose price or included calls are overridden (Stripe would not bill them)', async () => {
    const customer = await h.admin.createCustomer('free', { overrides: { includedCalls: 5000 } });
    const creates = () => h.emulator.requests.filter((request) => request.method === 'POST' && request.path === '/v1/subscriptions').length;
    const before = creates();
    const refused = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'overrides_not_billable', message: expect.stringContaining('overrides.includedCalls') });
    expect(creates()).toBe(before);
    expect((await h.admin.request('GET', `/v1/customers/${customer.id}`)).body).toMatchObject({ tier: 'free', stripeSubscriptionId: null });
  });

  it('changes the tier of a live subscription with an idempotent update', async () => {
    const customer = await subscribeAndPay(h.admin, h.emulator, (await h.admin.createCustomer('free')).id, 'pro');
    const changed = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'volume' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ tier: 'volume', stripeSubscriptionId: customer.stripeSubscriptionId });
    const updates = h.emulator.requests.filter((request) => request.method === 'POST' && request.path === `/v1/subscriptions/${customer.stripeSubscriptionId}`);
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.every((request) => request.idempotencyKey !== null)).toBe(true);
  });

  it('takes the tier away on unpaid, paused, incomplete_expired and canceled; an incomplete one never grants it', async () => {
    const url = `${h.service.url}/v1/stripe/webhooks`;
    const customer = await subscribeAndPay(h.admin, h.emulator, (await h.admin.createCustomer('free')).id, 'pro');
    const subscription = await h.stripe.subscriptions.retrieve(customer.stripeSubscriptionId);
    const now = Math.floor(Date.now() / 1000) + 10;
    const post = (type: string, status: string, at: number) => h.emulator.postWebhook(url, { type, data: { object: { ...subscription, status } }, created: at });

    for (const [offset, status] of [
      [1, 'unpaid'],
      [3, 'paused'],
    ] as const) {
      await post('customer.subscription.updated', status, now + offset);
      expect(await view(customer.id)).toMatchObject({ tier: 'free', stripeSubscriptionId: subscription.id });
      await post('customer.subscription.updated', 'active', now + offset + 1);
      expect((await view(customer.id)).tier).toBe('pro');
    }
    await post('customer.subscription.updated', 'incomplete', now + 5);
    expect((await view(customer.id)).tier).toBe('pro'); // not granted, not taken: the subscription was active before
    await post('customer.subscription.updated', 'incomplete_expired', now + 6);
    expect(await view(customer.id)).toMatchObject({ tier: 'free', stripeSubscriptionId: null, currentPeriod: null });
    await post('customer.subscription.created', 'incomplete', now + 7);
    expect(await view(customer.id)).toMatchObject({ tier: 'free', stripeSubscriptionId: subscription.id });
    await post('customer.subscription.updated', 'trialing', now + 8);
    expect((await view(customer.id)).tier).toBe('pro');
    await post('customer.subscription.updated', 'canceled', now + 9);
    expect(await view(customer.id)).toMatchObject({ tier: 'free', stripeSubscriptionId: null });
  });

  it('lets an incomplete subscription expire after 23 h without ever granting the tier', async () => {
    const customer = await h.admin.createCustomer('free');
    const subscribed = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'pro' });
    expect(subscribed.status).toBe(202);
    await h.emulator.advanceBy(23 * 3600 + 60);
    expect((await h.stripe.subscriptions.retrieve(subscribed.body.subscription.id)).status).toBe('incomplete_expired');
    expect(await view(customer.id)).toMatchObject({ tier: 'free', stripeSubscriptionId: null });
  });

  it('skips a payment event older than one already applied (invoice events are ordered too)', async () => {
    const url = `${h.service.url}/v1/stripe/webhooks`;
    const customer = await subscribeAndPay(h.admin, h.emulator, (await h.admin.createCustomer('free')).id, 'pro');
    const at = h.emulator.now() + 100;
    const invoice = (id: string) => ({ object: 'invoice', id, customer: customer.stripeCustomerId, lines: { object: 'list', data: [], has_more: false } });
    await h.emulator.postWebhook(url, { type: 'invoice.payment_failed', data: { object: invoice('in_a') }, created: at });
    expect((await view(customer.id)).status).toBe('past_due');
    await h.emulator.postWebhook(url, { type: 'invoice.paid', data: { object: invoice('in_b') }, created: at + 2 });
    expect((await view(customer.id)).status).toBe('active');
    // The failure of a retry one second before the payment arrives after it: recorded, not applied.
    const late = await h.emulator.postWebhook(url, { type: 'invoice.payment_failed', data: { object: invoice('in_c') }, created: at + 1 });
    expect(JSON.parse(late.body)).toEqual({ received: true, superseded: true });
    expect((await view(customer.id)).status).toBe('active');
  });

  it('takes the billing period from the metered item, matched by price', async () => {
    // A yearly add-on first, then the monthly metered price: flexible billing mode lets their periods differ.
    const customer = await subscribeAndPay(h.admin, h.emulator, (await h.admin.createCustomer('free')).id, 'pro');
    const addon = await h.stripe.prices.create({ currency: 'usd', unit_amount: 100, product: 'tollgate_pro', recurring: { interval: 'year' } });
    const [metered] = (await h.stripe.prices.list({ lookup_keys: ['tollgate_pro_api_calls'] })).data;
    const sub = await h.stripe.subscriptions.create({
      customer: customer.stripeCustomerId,
      items: [{ price: addon.id, quantity: 1 }, { price: metered.id }],
      metadata: { tollgate_tier: 'pro' },
    });
    await h.emulator.flush();
    const item = sub.items.data.find((candidate) => candidate.price.id === metered.id)!;
    const yearly = sub.items.data.find((candidate) => candidate.price.id === addon.id)!;
    expect(yearly.current_period_end).not.toBe(item.current_period_end);
    expect(await view(customer.id)).toMatchObject({
      stripeSubscriptionId: sub.id,
      currentPeriod: { start: new Date(item.current_period_start * 1000).toISOString(), end: new Date(item.current_period_end * 1000).toISOString() },
    });
  });
});

/** Everything but Date keeps real time (timers, sockets and the database run as usual). */
const REAL_TIMERS = ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] as const;

describe('usage pushed after a mid-period tier change', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    jest.useRealTimers();
    await stopHarness(h);
  });

  it('is stamped in the new price’s segment, even within the minute of the change, and reaches the invoice', async () => {
    const customer = await subscribeAndPay(h.admin, h.emulator, (await h.admin.createCustomer('free')).id, 'graduated');
    await ingest(h.admin, customer.id, 1500, 'before-change');
    expect((await h.admin.request('POST', '/v1/billing/sync')).body).toMatchObject({ ran: true, sent: 1 });

    // The change at 12 s past a minute, and the next push within that minute: a push floored to the minute would be
    // stamped before the change, in the segment Stripe has closed (on no invoice). Tollgate's clock (Date) and the
    // emulator's are set to that minute.
    // Two minutes on: Stripe has processed the first push by then (its summaries lag), so nothing was in flight at
    // the change.
    const minute = (Math.floor(Date.now() / 60_000) + 2) * 60_000;
    jest.useFakeTimers({ advanceTimers: true, now: minute + 10_000, doNotFake: [...REAL_TIMERS] });
    await h.emulator.advanceTo(minute / 1000 + 12);
    const changed = await h.admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'volume' });
    expect(changed.status).toBe(200);
    await ingest(h.admin, customer.id, 700, 'after-change');
    expect((await h.admin.request('POST', '/v1/billing/sync')).body).toMatchObject({ ran: true, sent: 1 });
    const [push] = (await h.database.query<{ event_timestamp: Date | string }>(
      `SELECT event_timestamp FROM stripe_pushes WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [customer.id],
    ));
    expect(new Date(push.event_timestamp).getTime()).toBeGreaterThanOrEqual(h.emulator.now() * 1000);
    h.emulator.setClock(null);
    jest.useRealTimers();

    const periodEnd = periodEndOf(h.emulator, customer.stripeCustomerId);
    await h.emulator.advanceTo(periodEnd + 3600 + 120);
    const invoice = cycleInvoice(h.emulator, customer.stripeCustomerId);
    const preview = await h.admin.request('GET', `/v1/customers/${customer.id}/invoice-preview?at=${encodeURIComponent(new Date((periodEnd - 1) * 1000).toISOString())}`);
    expect(preview.status).toBe(200);
    expect(invoice.total).toBe(preview.body.totalMinor);
    // The 700 calls after the change are billed on the new price's line.
    expect(invoice.lines.data.map((line: { quantity: number | null }) => line.quantity)).toContain(700);
    expect(h.drifts.filter((drift) => drift.customerId === customer.id)).toEqual([]);
  });
});

describe('usage from before a customer subscribed', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => stopHarness(h));

  it('stays off Stripe: the free-tier month is on no price, and the first paid invoice equals the preview', async () => {
    const created = await h.admin.createCustomer('free');
    // Free tier, calendar month: 800 calls (under its 1000 included).
    await ingest(h.admin, created.id, 800, 'while-free');
    const customer = await subscribeAndPay(h.admin, h.emulator, created.id, 'graduated');
    await ingest(h.admin, customer.id, 1500, 'while-paying');
    expect((await h.admin.request('POST', '/v1/billing/sync')).body).toMatchObject({ ran: true, sent: 1 });
    const pushes = await h.database.query<{ delta: string; period_start: Date | string }>(`SELECT delta::text, period_start FROM stripe_pushes WHERE customer_id = $1`, [customer.id]);
    expect(pushes).toEqual([expect.objectContaining({ delta: '1500' })]);
    expect(new Date(pushes[0].period_start).toISOString()).toBe(customer.currentPeriod.start);

    const periodEnd = periodEndOf(h.emulator, customer.stripeCustomerId);
    await h.emulator.advanceTo(periodEnd + 3600 + 120);
    const preview = await h.admin.request('GET', `/v1/customers/${customer.id}/invoice-preview?at=${encodeURIComponent(new Date((periodEnd - 1) * 1000).toISOString())}`);
    expect(cycleInvoice(h.emulator, customer.stripeCustomerId).total).toBe(preview.body.totalMinor);
    expect(h.drifts.filter((drift) => drift.customerId === customer.id)).toEqual([]);
  });
});

describe('a meter left by an earlier version', () => {
  it('is reported when it counts pushes instead of summing them (Stripe would bill the number of pushes)', async () => {
    const database = await createTestDatabase();
    const { emulator, stripe } = await startStripe();
    try {
      const legacy = await stripe.billing.meters.create({
        display_name: 'api_calls',
        event_name: 'tollgate_api_calls',
        default_aggregation: { formula: 'count' },
        customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
        value_settings: { event_payload_key: 'value' },
      });
      const service = await startTestApp(database, { config: stripeConfig(database, emulator, { catalog: parseTierCatalog(CATALOG) }) });
      try {
        const report = await new AdminClient(service.url).request('POST', '/v1/billing/provision');
        expect(report.status).toBe(200);
        expect(report.body.problems).toEqual([expect.stringContaining(`meter tollgate_api_calls (${legacy.id}) aggregates by "count"`)]);
        expect(service.logs.text).toContain('Stripe bills the number of pushes');
      } finally {
        await service.close();
      }
    } finally {
      await emulator.stop();
      await database.dispose();
    }
  });

  it('refuses to subscribe while a metered price of the tier is missing in Stripe (its overage would be billed nowhere)', async () => {
    const database = await createTestDatabase();
    const { emulator, stripe } = await startStripe();
    try {
      const service = await startTestApp(database, { config: stripeConfig(database, emulator, { catalog: parseTierCatalog(CATALOG) }) });
      try {
        const admin = new AdminClient(service.url);
        expect((await admin.request('POST', '/v1/billing/provision')).status).toBe(200);
        const lookupKey = stripeNames.meteredPrice('graduated', 'api_calls');
        const [metered] = (await stripe.prices.list({ lookup_keys: [lookupKey], active: true })).data;
        await stripe.prices.update(metered.id, { active: false }); // archived in the dashboard, say
        const customer = await admin.createCustomer('free');
        const refused = await admin.request('POST', `/v1/customers/${customer.id}/subscription`, { tier: 'graduated' });
        expect(refused.status).toBe(409);
        expect(refused.body).toMatchObject({ error: 'catalog_not_provisioned', message: expect.stringContaining(lookupKey) });
        // Provisioning puts it back; then the subscription has it.
        expect((await admin.request('POST', '/v1/billing/provision')).status).toBe(200);
        const subscribed = await subscribeAndPay(admin, emulator, customer.id, 'graduated');
        const subscription = await stripe.subscriptions.retrieve(subscribed.stripeSubscriptionId);
        expect(subscription.items.data.map((item) => item.price.lookup_key)).toContain(lookupKey);
      } finally {
        await service.close();
      }
    } finally {
      await emulator.stop();
      await database.dispose();
    }
  });
});
