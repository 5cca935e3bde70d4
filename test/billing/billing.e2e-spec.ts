import { jest } from '@jest/globals';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import { BILLING_DRIFT_DETECTED, CustomersService, TollgateConfig } from 'tollgate';
import type { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { until } from '../support/wait.js';
import { startStripe, stripeConfig, subscribeAndPay } from '../support/billing-app.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

describe('Stripe billing against the emulator', () => {
  let database: TestDatabase;
  let emulator: StripeEmulator;
  let service: TestApp;
  let admin: AdminClient;
  let stripe: Stripe;

  beforeAll(async () => {
    database = await createTestDatabase();
    ({ emulator, stripe } = await startStripe());
    service = await startTestApp(database, { config: stripeConfig(database, emulator) });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await emulator.stop();
    await database.dispose();
  });

  const meterId = async (eventName = 'tollgate_api_calls') => (await stripe.billing.meters.list({ limit: 100 })).data.find((m) => m.event_name === eventName)!.id;
  const ingest = (customerId: string, quantity: number, key: string) =>
    admin.request('POST', '/v1/events', { events: [{ customerId, quantity, idempotencyKey: key }] });

  async function subscribedCustomer(tier = 'pro') {
    // A paying customer: the subscription starts incomplete (no card yet) and is active once the first invoice is paid.
    const customer = await admin.createCustomer(tier === 'pro' ? 'free' : tier);
    return subscribeAndPay(admin, emulator, customer.id, tier);
  }

  const stripeTotal = async (stripeCustomerId: string, period: { start: string; end: string }) => {
    const minute = 60_000;
    return emulator.meterTotal(
      await meterId(),
      stripeCustomerId,
      Math.ceil(Date.parse(period.start) / minute) * 60,
      Math.floor(Date.parse(period.end) / minute) * 60,
    );
  };

  it('provisions products, meters and prices from tiers.yaml, and a second run creates nothing', async () => {
    const first = await admin.request('POST', '/v1/billing/provision');
    expect(first.status).toBe(200);
    expect(first.body.created).toEqual(
      expect.arrayContaining(['meter tollgate_api_calls', 'product tollgate_free', 'product tollgate_pro', 'price tollgate_pro_base', 'price tollgate_pro_api_calls']),
    );
    const second = await admin.request('POST', '/v1/billing/provision');
    expect(second.body.created).toEqual([]);
    expect(second.body.existing.length).toBe(first.body.created.length);

    const [base] = (await stripe.prices.list({ lookup_keys: ['tollgate_pro_base'] })).data;
    expect(base).toMatchObject({ unit_amount: 4900, currency: 'usd', recurring: expect.objectContaining({ interval: 'month', usage_type: 'licensed' }) });
    const [metered] = (await stripe.prices.list({ lookup_keys: ['tollgate_pro_api_calls'], expand: ['data.tiers'] })).data;
    expect(metered.recurring?.meter).toBe(await meterId());
    expect(metered.tiers?.map((t) => [t.up_to, String(t.unit_amount_decimal)])).toEqual([
      [50000, '0'],
      [null, '0.2'],
    ]);
  });

  it('subscribes a customer to pro with the base and metered prices and records the billing period', async () => {
    const customer = await subscribedCustomer('pro');
    expect(customer.tier).toBe('pro');
    expect(customer.stripeCustomerId).toMatch(/^cus_/);
    const subscription = (await stripe.subscriptions.list({ customer: customer.stripeCustomerId })).data[0];
    expect(subscription.items.data.map((item) => item.price.lookup_key).sort()).toEqual(['tollgate_pro_api_calls', 'tollgate_pro_base']);
    const item = subscription.items.data[0] as Stripe.SubscriptionItem & { current_period_start: number; current_period_end: number };
    expect(customer.currentPeriod).toEqual({
      start: new Date(item.current_period_start * 1000).toISOString(),
      end: new Date(item.current_period_end * 1000).toISOString(),
    });
  });

  it('pushes usage idempotently: outbox first, identifier as Idempotency-Key, only deltas afterwards', async () => {
    const customer = await subscribedCustomer('pro');
    await ingest(customer.id, 60_000, 'bulk-1');
    const first = await admin.request('POST', '/v1/billing/sync');
    expect(first.body).toMatchObject({ ran: true, dryRun: false, stillPending: 0 });
    expect(await stripeTotal(customer.stripeCustomerId, customer.currentPeriod)).toBe(60_000);

    expect((await admin.request('POST', '/v1/billing/sync')).body.planned).toBe(0);
    await ingest(customer.id, 250, 'bulk-2');
    await admin.request('POST', '/v1/billing/sync');
    expect(await stripeTotal(customer.stripeCustomerId, customer.currentPeriod)).toBe(60_250);

    const pushes = (await admin.request('GET', '/v1/billing/pushes')).body.data.filter((p: { customerId: string }) => p.customerId === customer.id);
    expect(pushes.map((p: { delta: number; status: string }) => [p.delta, p.status])).toEqual([
      [250, 'sent'],
      [60_000, 'sent'],
    ]);
    for (const push of pushes) {
      expect(push.identifier.length).toBeLessThanOrEqual(100);
      const sent = emulator.requests.filter((r) => r.path === '/v1/billing/meter_events' && r.idempotencyKey === push.identifier);
      expect(sent.length).toBeGreaterThanOrEqual(1);
      expect(emulator.appliedIdentifierCounts().get(push.identifier)).toBe(1);
    }
  });

  it('sends a downward correction as a negative meter event', async () => {
    const customer = await subscribedCustomer('pro');
    await ingest(customer.id, 300, 'corr-1');
    await admin.request('POST', '/v1/billing/sync');
    // An operator corrects the counter (e.g. a refunded batch); the next sync sends the difference, negative.
    await database.query(`UPDATE usage_counters SET total = 260 WHERE customer_id = $1`, [customer.id]);
    await admin.request('POST', '/v1/billing/sync');
    expect(await stripeTotal(customer.stripeCustomerId, customer.currentPeriod)).toBe(260);
    const events = emulator.meterEvents({ customer: customer.stripeCustomerId }).map((event) => event.value);
    expect(events).toEqual([300, -40]);
  });

  it('answers a sync asked for during a run with a run that started after the call: the usage recorded before it is pushed', async () => {
    const customer = await subscribedCustomer('pro');
    await ingest(customer.id, 100, 'inflight-1');
    // A run in flight (the scheduler's, say) planned before the next event: its push is on its way, slowly.
    emulator.faults = { ...emulator.faults, latencyMs: 1_000, onlyPaths: /meter_events/ };
    const inFlight = admin.request('POST', '/v1/billing/sync');
    await until(() => emulator.requests.some((request) => request.path === '/v1/billing/meter_events' && request.status === 0));
    emulator.faults = { ...emulator.faults, latencyMs: 0, onlyPaths: undefined };
    // Late usage is acknowledged, then a sync is asked for (the period-close push before Stripe finalizes).
    expect((await ingest(customer.id, 50, 'inflight-2')).body.results[0].status).toBe('accepted');
    const asked = await admin.request('POST', '/v1/billing/sync');
    expect(asked.status).toBe(200);
    expect(asked.body).toMatchObject({ ran: true, stillPending: 0 });
    // Its 200 means Stripe has what was acknowledged before the call, not the earlier run's plan only.
    expect(emulator.meterEvents({ customer: customer.stripeCustomerId }).map((event) => event.value)).toEqual([100, 50]);
    expect((await inFlight).body).toMatchObject({ ran: true, planned: 1, sent: 1 });
  });

  describe('webhooks', () => {
    const url = () => `${service.url}/v1/stripe/webhooks`;

    it('moves the tier and period on subscription events, processes each event once, and refuses bad signatures', async () => {
      const customer = await subscribedCustomer('pro');
      const subscription = (await stripe.subscriptions.list({ customer: customer.stripeCustomerId })).data[0];
      const deleted = await emulator.postWebhook(url(), { type: 'customer.subscription.deleted', data: { object: { ...subscription, status: 'canceled' } } });
      expect(deleted.status).toBe(200);
      let view = (await admin.request('GET', `/v1/customers/${customer.id}`)).body;
      expect(view).toMatchObject({ tier: 'free', stripeSubscriptionId: null, currentPeriod: null });

      const created = await emulator.postWebhook(url(), { type: 'customer.subscription.created', data: { object: subscription } });
      expect(created.status).toBe(200);
      view = (await admin.request('GET', `/v1/customers/${customer.id}`)).body;
      expect(view.tier).toBe('pro');
      expect(view.currentPeriod).toEqual(customer.currentPeriod);

      // A redelivery of the same event id changes nothing.
      const replay = await call('POST', url(), {
        body: JSON.stringify(created.event),
        headers: { 'stripe-signature': emulator.signWebhook(JSON.stringify(created.event)) },
      });
      expect(replay.body).toEqual({ received: true, duplicate: true });

      const forged = await call('POST', url(), { body: JSON.stringify(created.event), headers: { 'stripe-signature': 't=1,v1=deadbeef' } });
      expect(forged.status).toBe(400);
      expect(forged.body.error).toBe('invalid_signature');
    });

    it('skips a subscription event older than one already applied (Stripe delivers out of order)', async () => {
      const customer = await subscribedCustomer('pro');
      const subscription = (await stripe.subscriptions.list({ customer: customer.stripeCustomerId })).data[0];
      const now = Math.floor(Date.now() / 1000);
      // Canceled a minute ago; the update from two minutes ago arrives after it.
      await emulator.postWebhook(url(), { type: 'customer.subscription.deleted', data: { object: { ...subscription, status: 'canceled' } }, created: now - 60 });
      expect((await admin.request('GET', `/v1/customers/${customer.id}`)).body.tier).toBe('free');
      const late = await emulator.postWebhook(url(), { type: 'customer.subscription.updated', data: { object: subscription }, created: now - 120 });
      expect(late.status).toBe(200);
      expect(JSON.parse(late.body)).toEqual({ received: true, superseded: true });
      expect((await admin.request('GET', `/v1/customers/${customer.id}`)).body).toMatchObject({ tier: 'free', stripeSubscriptionId: null });
      // A newer event still applies.
      await emulator.postWebhook(url(), { type: 'customer.subscription.created', data: { object: subscription }, created: now });
      expect((await admin.request('GET', `/v1/customers/${customer.id}`)).body).toMatchObject({ tier: 'pro', stripeSubscriptionId: subscription.id });
    });

    it('keeps the tier when a replaced subscription ends', async () => {
      const customer = await subscribedCustomer('pro');
      const old = (await stripe.subscriptions.list({ customer: customer.stripeCustomerId })).data[0];
      const replacement = { ...old, id: `${old.id}_replacement` };
      await emulator.postWebhook(url(), { type: 'customer.subscription.created', data: { object: replacement } });
      await emulator.postWebhook(url(), { type: 'customer.subscription.deleted', data: { object: { ...old, status: 'canceled' } } });
      expect((await admin.request('GET', `/v1/customers/${customer.id}`)).body).toMatchObject({ tier: 'pro', stripeSubscriptionId: replacement.id });
    });

    it('applies deliveries for one customer one at a time: a newer event that arrives mid-apply still wins', async () => {
      const customer = await subscribedCustomer('pro');
      const subscription = (await stripe.subscriptions.list({ customer: customer.stripeCustomerId })).data[0];
      const now = Math.floor(Date.now() / 1000);
      // The older update stalls inside its apply (its customer lookup answers 300 ms late); the cancellation, a
      // second newer, arrives meanwhile. Applied side by side, the stalled update would land last and undo it.
      const customers = service.app.get(CustomersService);
      const lookup = customers.findByStripeCustomerId.bind(customers);
      const stall = jest.spyOn(customers, 'findByStripeCustomerId').mockImplementationOnce(async (id: string) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return lookup(id);
      });
      try {
        const older = emulator.postWebhook(url(), { type: 'customer.subscription.updated', data: { object: subscription }, created: now - 1 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        const newer = emulator.postWebhook(url(), { type: 'customer.subscription.deleted', data: { object: { ...subscription, status: 'canceled' } }, created: now });
        expect((await Promise.all([older, newer])).map((result) => result.status)).toEqual([200, 200]);
      } finally {
        stall.mockRestore();
      }
      expect((await admin.request('GET', `/v1/customers/${customer.id}`)).body).toMatchObject({ tier: 'free', stripeSubscriptionId: null });
    });

    it('marks a customer past_due on a failed payment and active when paid', async () => {
      const customer = await subscribedCustomer('pro');
      await emulator.postWebhook(url(), { type: 'invoice.payment_failed', data: { object: { object: 'invoice', id: 'in_1', customer: customer.stripeCustomerId } } });
      expect((await admin.request('GET', `/v1/customers/${customer.id}`)).body.status).toBe('past_due');
      await emulator.postWebhook(url(), { type: 'invoice.paid', data: { object: { object: 'invoice', id: 'in_2', customer: customer.stripeCustomerId } } });
      expect((await admin.request('GET', `/v1/customers/${customer.id}`)).body.status).toBe('active');
    });
  });
  /**
   * Stripe is eventually consistent: "Stripe processes meter events asynchronously, so aggregated usage in meter
   * event summaries and on upcoming invoices might not immediately reflect recently received meter events"
   * (recording-usage-api). These tests move the emulator's clock past its processing lag (and, for Tollgate's
   * side, backdate what happened), so they run last: their customers subscribe before the clock moves.
   */
  describe('with Stripe\'s processing lag', () => {
    /** More than the emulator's meter event processing delay (60 s by default). */
    const PAST_THE_LAG = 120;
    const lagCustomers: Record<'preview' | 'reconcile' | 'stale' | 'threshold', Awaited<ReturnType<typeof subscribedCustomer>>> = {} as never;

    beforeAll(async () => {
      for (const name of ['preview', 'reconcile', 'stale', 'threshold'] as const) lagCustomers[name] = await subscribedCustomer('pro');
    });

    const rowOf = async (customerId: string) =>
      ((await admin.request('GET', '/v1/billing/reconciliation?period=current')).body.rows as Array<{ customerId: string }>).find((row) => row.customerId === customerId);

    it('previews the invoice with exact money, and matches Stripe’s create_preview once Stripe has processed the usage', async () => {
      const customer = lagCustomers.preview;
      await ingest(customer.id, 60_000, 'preview-1');
      const preview = await admin.request('GET', `/v1/customers/${customer.id}/invoice-preview`);
      expect(preview.body).toMatchObject({ currency: 'usd', total: '69.00', totalMinor: 6900 });
      expect(preview.body.lines.map((line: { amount: string }) => line.amount)).toEqual(['49.00', '20.00']);
      await admin.request('POST', '/v1/billing/sync');
      await emulator.advanceBy(PAST_THE_LAG);
      const stripePreview = await stripe.invoices.createPreview({ customer: customer.stripeCustomerId });
      expect(stripePreview.amount_due).toBe(preview.body.totalMinor);
    });

    it('reconciles local, pushed and Stripe totals: no drift while Stripe processes, drift once it is real', async () => {
      const customer = lagCustomers.reconcile;
      await ingest(customer.id, 500, 'rec-1');
      await admin.request('POST', '/v1/billing/sync');
      const drifts: Array<{ customerId: string }> = [];
      service.app.get(EventEmitter2).on(BILLING_DRIFT_DETECTED, (event: { customerId: string }) => drifts.push(event));

      // Just pushed: Stripe's summary does not show it yet, and that is no drift.
      expect(await rowOf(customer.id)).toMatchObject({ meter: 'api_calls', localTotal: 500, pushedTotal: 500, settledTotal: 0, stripeTotal: 0, drift: 0, unpushed: 0 });
      await emulator.advanceBy(PAST_THE_LAG);
      expect(await rowOf(customer.id)).toMatchObject({ pushedTotal: 500, stripeTotal: 500, drift: 0 });
      // Tollgate's side of the time that passed: the push is older than Stripe's summary delay (5 min by default).
      await database.query(`UPDATE stripe_pushes SET sent_at = sent_at - interval '10 minutes' WHERE customer_id = $1`, [customer.id]);
      expect(await rowOf(customer.id)).toMatchObject({ pushedTotal: 500, settledTotal: 500, stripeTotal: 500, drift: 0 });
      expect(drifts.filter((event) => event.customerId === customer.id)).toEqual([]);

      // Someone cancels the event in Stripe: once Stripe has processed the cancellation, the totals no longer agree.
      const [push] = (await admin.request('GET', '/v1/billing/pushes')).body.data.filter((p: { customerId: string }) => p.customerId === customer.id);
      await stripe.billing.meterEventAdjustments.create({ event_name: 'tollgate_api_calls', type: 'cancel', cancel: { identifier: push.identifier } });
      await emulator.advanceBy(PAST_THE_LAG);
      expect(await rowOf(customer.id)).toMatchObject({ stripeTotal: 0, drift: 500 });
      expect(drifts).toContainEqual(expect.objectContaining({ customerId: customer.id, drift: 500 }));
    });

    it('alerts only on drift above the threshold', async () => {
      const customer = lagCustomers.threshold;
      await ingest(customer.id, 30, 'thr-1');
      await admin.request('POST', '/v1/billing/sync');
      await emulator.advanceBy(PAST_THE_LAG);
      await database.query(`UPDATE stripe_pushes SET sent_at = sent_at - interval '10 minutes' WHERE customer_id = $1`, [customer.id]);
      const [push] = (await admin.request('GET', '/v1/billing/pushes')).body.data.filter((p: { customerId: string }) => p.customerId === customer.id);
      await stripe.billing.meterEventAdjustments.create({ event_name: 'tollgate_api_calls', type: 'cancel', cancel: { identifier: push.identifier } });
      await emulator.advanceBy(PAST_THE_LAG);
      const drifts: Array<{ customerId: string }> = [];
      service.app.get(EventEmitter2).on(BILLING_DRIFT_DETECTED, (event: { customerId: string }) => drifts.push(event));
      const config = service.app.get(TollgateConfig);
      const threshold = config.driftThreshold;
      try {
        config.driftThreshold = 30;
        expect(await rowOf(customer.id)).toMatchObject({ drift: 30 });
        expect(drifts.filter((event) => event.customerId === customer.id)).toEqual([]);
        config.driftThreshold = 29;
        expect(await rowOf(customer.id)).toMatchObject({ drift: 30 });
        expect(drifts).toContainEqual(expect.objectContaining({ customerId: customer.id, drift: 30 }));
      } finally {
        config.driftThreshold = threshold;
      }
    });

    it('checks Stripe before re-sending a push pending for more than 23 hours', async () => {
      const customer = lagCustomers.stale;
      await ingest(customer.id, 40, 'old-1');
      emulator.faults = { ...emulator.faults, resetAfterApplyRate: 1, onlyPaths: /meter_events/ };
      await admin.request('POST', '/v1/billing/sync');
      emulator.faults = { ...emulator.faults, resetAfterApplyRate: 0, onlyPaths: undefined };
      const [pending] = await database.query<{ identifier: string; status: string }>(
        `SELECT identifier, status FROM stripe_pushes WHERE customer_id = $1`,
        [customer.id],
      );
      expect(pending.status).toBe('pending');
      expect(emulator.appliedIdentifierCounts().get(pending.identifier)).toBe(1);
      // A day later (on both sides) Stripe has processed the event and may have forgotten its identifier (it
      // dedupes for "at least 24 hours"): a blind re-send would count it twice, so the summaries decide.
      await database.query(`UPDATE stripe_pushes SET created_at = now() - interval '25 hours' WHERE identifier = $1`, [pending.identifier]);
      await emulator.advanceBy(25 * 3600);
      const before = emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length;
      await admin.request('POST', '/v1/billing/sync');
      expect(emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length).toBe(before);
      const [after] = await database.query<{ status: string }>(`SELECT status FROM stripe_pushes WHERE identifier = $1`, [pending.identifier]);
      expect(after.status).toBe('sent');
      expect(await stripeTotal(customer.stripeCustomerId, customer.currentPeriod)).toBe(40);
      expect(emulator.appliedIdentifierCounts().get(pending.identifier)).toBe(1);
    });
  });
});

describe('Stripe off: the sync job records what it would push', () => {
  it('writes dry-run pushes and calls nothing', async () => {
    const database = await createTestDatabase();
    const service = await startTestApp(database);
    try {
      const admin = new AdminClient(service.url);
      const customer = await admin.createCustomer('pro');
      await admin.request('POST', '/v1/events', { events: [{ customerId: customer.id, quantity: 7, idempotencyKey: 'dry-1' }] });
      const report = await admin.request('POST', '/v1/billing/sync');
      expect(report.body).toMatchObject({ ran: true, dryRun: true, planned: 1 });
      const pushes = (await admin.request('GET', '/v1/billing/pushes')).body.data;
      expect(pushes).toEqual([expect.objectContaining({ customerId: customer.id, delta: 7, toTotal: 7, status: 'dry_run' })]);
      expect((await admin.request('POST', '/v1/billing/sync')).body.planned).toBe(0);
      const provision = await admin.request('POST', '/v1/billing/provision');
      expect(provision.status).toBe(409);
      expect(provision.body.error).toBe('stripe_disabled');
    } finally {
      await service.close();
      await database.dispose();
    }
  });
});
