import { EventEmitter2 } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';
import type Stripe from 'stripe';
import { BILLING_DRIFT_DETECTED, type DriftDetectedEvent, TollgateConfig } from 'tollgate';
import { PeriodCloseScheduler } from '../../src/billing/period-close.scheduler.js';
import { PushOutbox } from '../../src/billing/push-outbox.js';
import { UsageSyncService } from '../../src/billing/usage-sync.service.js';
import { UsageLedger } from '../../src/metering/usage-ledger.js';
import { parseTierCatalog } from '../../src/config/tier-catalog.js';
import type { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { startStripe, stripeConfig, subscribeAndPay } from '../support/billing-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { SEED_TIERS, startTestApp, TEST_ADMIN_TOKEN, type TestApp, testConfig } from '../support/test-app.js';

/** The seed tiers plus a `count` meter: pro includes 10 searches a month, then $0.10 each. */
const TIERS = SEED_TIERS.replace(
  /^tiers:\n/m,
  'meters:\n  searches: { aggregation: count, unit: search }\ntiers:\n',
).replace(/(\n {2}pro:\n(?: {4}.*\n)+)/, '$1    meters:\n      searches: { included: 10/month, overage: $0.10/search }\n');

const DESTINATION_SECRET = 'whsec_tollgate_event_destination_test';
/** More than the emulator's meter event processing delay (60 s by default). */
const PAST_THE_LAG = 120;
const MINUTE = 60_000;
const HOUR = 3600_000;
const DAY = 86_400_000;

type Subscribed = { id: string; stripeCustomerId: string; currentPeriod: { start: string; end: string } };

/**
 * What Stripe really does with pushes, and what Tollgate must do about it: sum meters, retries that honour Stripe,
 * failures that stay visible and are re-sent once fixed, asynchronous meter errors, active meters past one page,
 * and period close before the invoice finalizes.
 */
describe('usage pushes under Stripe’s real semantics', () => {
  let database: TestDatabase;
  let emulator: StripeEmulator;
  let service: TestApp;
  let admin: AdminClient;
  let stripe: Stripe;
  const drifts: DriftDetectedEvent[] = [];
  const customers: Record<string, Subscribed> = {};

  beforeAll(async () => {
    database = await createTestDatabase();
    ({ emulator, stripe } = await startStripe());
    service = await startTestApp(database, {
      config: stripeConfig(database, emulator, { catalog: parseTierCatalog(TIERS), stripeEventDestinationSecret: DESTINATION_SECRET }),
    });
    admin = new AdminClient(service.url);
    emulator.addEventDestination(`${service.url}/v1/billing/stripe/events`, { secret: DESTINATION_SECRET });
    service.app.get(EventEmitter2).on(BILLING_DRIFT_DETECTED, (event: DriftDetectedEvent) => drifts.push(event));
  });

  beforeAll(async () => {
    expect((await admin.request('POST', '/v1/billing/provision')).status).toBe(200);
    // Everyone subscribes before any test moves the emulator's clock (periods then start before Tollgate's "now").
    const names = ['window', 'count', 'unauthorized', 'shouldRetry', 'tooOld', 'late', 'refused', 'archived', 'paged', 'close', 'stale', 'dryRunGap', 'restart'];
    await Promise.all(
      names.map(async (name) => {
        const customer = await admin.createCustomer('free');
        customers[name] = await subscribeAndPay(admin, emulator, customer.id, 'pro');
      }),
    );
  });

  afterAll(async () => {
    await service.close();
    await emulator.stop();
    await database.dispose();
  });

  const ingest = (customerId: string, quantity: number, key: string, meter = 'api_calls') =>
    admin.request('POST', '/v1/events', { events: [{ customerId, meter, quantity, idempotencyKey: key }] });
  const sync = async () => (await admin.request('POST', '/v1/billing/sync')).body as { planned: number; sent: number; stillPending: number; blocked: number; reason?: string };
  const pushesOf = async (customerId: string) =>
    database.query<{ id: string; identifier: string; status: string; failure_code: string | null; replanned_as: string | null; delta: string; last_error: string | null }>(
      `SELECT id::text, identifier, status, failure_code, replanned_as, delta::text, last_error FROM stripe_pushes WHERE customer_id = $1 ORDER BY stripe_pushes.id`,
      [customerId],
    );
  const activeMeterId = async (eventName: string) => {
    for await (const meter of stripe.billing.meters.list({ status: 'active', limit: 100 })) if (meter.event_name === eventName) return meter.id;
    throw new Error(`no active meter ${eventName}`);
  };
  const meterTotal = async (customer: Subscribed, eventName = 'tollgate_api_calls', stripeCustomerId = customer.stripeCustomerId) =>
    emulator.meterTotal(
      await activeMeterId(eventName),
      stripeCustomerId,
      Math.ceil(Date.parse(customer.currentPeriod.start) / MINUTE) * 60,
      Math.floor(Date.parse(customer.currentPeriod.end) / MINUTE) * 60,
    );
  const insertCounter = (customerId: string, start: Date, end: Date, total: number) =>
    database.query(`INSERT INTO usage_counters (customer_id, meter, period_start, period_end, total) VALUES ($1, 'api_calls', $2, $3, $4)`, [
      customerId,
      start.toISOString(),
      end.toISOString(),
      total,
    ]);

  it('fails the pushes Stripe did not name in a meter error report when the whole meter failed, and re-sends them', async () => {
    const customer = customers.window;
    const meter = await activeMeterId('tollgate_api_calls');
    await stripe.billing.meters.deactivate(meter);
    // Seven earlier one-day periods with usage: seven pushes, refused together; Stripe samples at most five.
    for (let day = 1; day <= 7; day++) {
      const end = new Date(Math.floor((Date.now() - day * DAY) / MINUTE) * MINUTE);
      await insertCounter(customer.id, new Date(end.getTime() - DAY), end, 10 * day);
    }
    // Stripe's clock stands still while they arrive: one processing moment, one report (as a burst within a second is).
    emulator.setClock(emulator.now());
    expect(await sync()).toMatchObject({ sent: 7 });
    await emulator.advanceBy(PAST_THE_LAG);
    const [report] = emulator.thinEvents('v1.billing.meter.error_report_triggered');
    expect(report.data.reason.error_count).toBe(7);
    expect(report.data.reason.error_types[0].sample_errors).toHaveLength(5);
    const refused = await pushesOf(customer.id);
    expect(refused.map((push) => [push.status, push.failure_code])).toEqual(Array.from({ length: 7 }, () => ['failed', 'archived_meter']));
    expect(drifts.filter((d) => d.customerId === customer.id && d.reason === 'push_failed')).toHaveLength(7);

    await stripe.billing.meters.reactivate(meter);
    expect(await sync()).toMatchObject({ sent: 7 });
    await emulator.advanceBy(PAST_THE_LAG);
    const resent = (await pushesOf(customer.id)).slice(7);
    expect(resent.map((push) => [push.status, push.delta]).sort()).toEqual(refused.map((push) => ['sent', push.delta]).sort());
  });

  it('provisions sum meters only, and bills a count meter by its usage events, not by its pushes', async () => {
    const meters = (await stripe.billing.meters.list({ limit: 100 })).data.filter((meter) => meter.event_name.startsWith('tollgate_'));
    expect(meters.map((meter) => [meter.event_name, meter.default_aggregation.formula]).sort()).toEqual([
      ['tollgate_api_calls', 'sum'],
      ['tollgate_searches', 'sum'],
    ]);
    const customer = customers.count;
    const searches = (from: number, count: number) =>
      admin.request('POST', '/v1/events', {
        events: Array.from({ length: count }, (_, i) => ({ customerId: customer.id, meter: 'searches', idempotencyKey: `search-${from + i}` })),
      });
    await searches(0, 15);
    await sync();
    await searches(15, 10);
    await sync();
    expect((await pushesOf(customer.id)).map((push) => push.delta)).toEqual(['15', '10']);
    // 25 searches in two pushes: a Stripe `count` meter would say 2.
    expect(await meterTotal(customer, 'tollgate_searches')).toBe(25);

    const preview = await admin.request('GET', `/v1/customers/${customer.id}/invoice-preview`);
    expect(preview.body.totalMinor).toBe(4900 + 15 * 10);
    await emulator.advanceBy(PAST_THE_LAG);
    const stripePreview = await stripe.invoices.createPreview({ customer: customer.stripeCustomerId });
    expect(stripePreview.amount_due).toBe(preview.body.totalMinor);
  });

  it('keeps usage pending through a 401 window, without hammering Stripe, and sends it once the key works', async () => {
    const customer = customers.unauthorized;
    await ingest(customer.id, 70, 'unauth-1');
    const before = emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length;
    emulator.unauthorizedFor(60_000);
    try {
      const report = await sync();
      expect(report).toMatchObject({ reason: 'Stripe refused the API key', stillPending: 1 });
      expect(emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length - before).toBe(1);
      expect(await pushesOf(customer.id)).toEqual([expect.objectContaining({ status: 'pending', last_error: expect.stringContaining('Expired API Key') })]);
    } finally {
      emulator.faults.unauthorizedUntilMs = 0;
    }
    expect(await sync()).toMatchObject({ sent: 1, stillPending: 0 });
    expect(await meterTotal(customer)).toBe(70);
  });

  it('honours Stripe-Should-Retry: false on a 429 by leaving the push for the next run', async () => {
    const customer = customers.shouldRetry;
    await ingest(customer.id, 12, 'should-retry-1');
    const before = emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length;
    emulator.faults.rateLimitBurst = { remaining: 1, shouldRetryHeader: false };
    expect(await sync()).toMatchObject({ sent: 0, stillPending: 1 });
    expect(emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length - before).toBe(1);
    expect((await pushesOf(customer.id))[0].status).toBe('pending');
    expect(await sync()).toMatchObject({ sent: 1, stillPending: 0 });
    expect(await meterTotal(customer)).toBe(12);
  });

  it('records usage older than Stripe accepts as a failed push, alerts the operator once, and never plans it again', async () => {
    const customer = customers.tooOld;
    const end = new Date(Date.now() - 40 * DAY);
    await insertCounter(customer.id, new Date(end.getTime() - 30 * DAY), end, 123);
    await sync();
    const [push] = await pushesOf(customer.id);
    expect(push).toMatchObject({ status: 'failed', failure_code: 'too_old', delta: '123' });
    expect(drifts.filter((d) => d.customerId === customer.id)).toEqual([expect.objectContaining({ reason: 'too_old_for_stripe', drift: 123, identifier: push.identifier })]);

    expect((await sync()).blocked).toBeGreaterThanOrEqual(1);
    expect(await pushesOf(customer.id)).toHaveLength(1);
    expect(drifts.filter((d) => d.customerId === customer.id)).toHaveLength(1);
    const failed = (await admin.request('GET', '/v1/billing/pushes?status=failed')).body.data;
    expect(failed).toContainEqual(expect.objectContaining({ identifier: push.identifier, failureCode: 'too_old' }));
    const reconciliation = (await admin.request('GET', '/v1/billing/reconciliation')).body;
    expect(reconciliation.failedPushes).toContainEqual(expect.objectContaining({ identifier: push.identifier }));
    expect((await admin.request('GET', '/v1/billing/pushes?status=nonsense')).status).toBe(400);
  });

  it('alerts when usage reaches Stripe after its period’s invoice was finalized (it is on no invoice)', async () => {
    const customer = customers.late;
    const end = new Date(Date.now() - 3 * HOUR);
    await insertCounter(customer.id, new Date(end.getTime() - 30 * DAY), end, 50);
    // Stripe is unreachable for a while: the push waits, and the alert comes when Stripe takes it, once.
    emulator.faults.rateLimitBurst = { remaining: 1, shouldRetryHeader: false };
    expect(await sync()).toMatchObject({ sent: 0, stillPending: 1 });
    expect(drifts.filter((d) => d.customerId === customer.id)).toEqual([]);
    expect(await sync()).toMatchObject({ sent: 1 });
    expect(drifts.filter((d) => d.customerId === customer.id)).toEqual([expect.objectContaining({ reason: 'after_invoice_finalized', drift: 50 })]);
  });

  it('reconciles on its own schedule (TOLLGATE_RECONCILE_CRON)', async () => {
    const job = service.app.get(SchedulerRegistry).getCronJob('tollgate-reconciliation');
    expect(String(job.cronTime.source)).toBe(service.app.get(TollgateConfig).reconcileCron);
    expect(job.isActive).toBe(true);
  });

  it('takes a meter error report from the event destination: the push fails with Stripe’s reason, and is re-sent once fixed', async () => {
    const customer = customers.refused;
    // The customer's Stripe id went bad (deleted in the dashboard, say): Stripe still answers 200, then refuses it later.
    await database.query(`UPDATE customers SET stripe_customer_id = 'cus_gone_for_good' WHERE id = $1`, [customer.id]);
    await ingest(customer.id, 80, 'refused-1');
    expect(await sync()).toMatchObject({ sent: 1 });
    await emulator.advanceBy(PAST_THE_LAG);
    const delivered = emulator.deliveries.filter((d) => d.kind === 'thin' && d.type === 'v1.billing.meter.error_report_triggered');
    expect(delivered.map((d) => d.status)).toContain(200);

    const [push] = await pushesOf(customer.id);
    expect(push).toMatchObject({ status: 'failed', failure_code: 'meter_event_customer_not_found' });
    expect(push.last_error).toContain('cus_gone_for_good');
    expect(drifts.filter((d) => d.customerId === customer.id)).toEqual([expect.objectContaining({ reason: 'push_failed', drift: 80, identifier: push.identifier })]);
    // The operator alert is recorded (listeners run detached: wait for it).
    let alerts: Array<{ audience: string; kind: string; message: string; data: { reason?: string } }> = [];
    for (let i = 0; i < 50 && alerts.length === 0; i++) {
      alerts = (await admin.request('GET', `/v1/customers/${customer.id}/notifications`)).body.data.filter((n: { kind: string }) => n.kind === 'billing.drift_detected');
      if (alerts.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(alerts).toEqual([expect.objectContaining({ audience: 'operator', data: expect.objectContaining({ reason: 'push_failed' }) })]);
    expect(alerts[0].message).toContain('meter_event_customer_not_found');
    // Not fixed yet: nothing is re-sent.
    expect((await sync()).blocked).toBeGreaterThanOrEqual(1);
    expect(await pushesOf(customer.id)).toHaveLength(1);

    await database.query(`UPDATE customers SET stripe_customer_id = $2 WHERE id = $1`, [customer.id, customer.stripeCustomerId]);
    expect(await sync()).toMatchObject({ sent: 1 });
    const [failed, resent] = await pushesOf(customer.id);
    expect(resent).toMatchObject({ status: 'sent', delta: '80', identifier: `${push.identifier}_r1` });
    expect(failed).toMatchObject({ status: 'failed', replanned_as: resent.identifier });
    expect(await meterTotal(customer)).toBe(80);
    // Stripe processes it: valid this time.
    await emulator.advanceBy(PAST_THE_LAG);
    expect((await pushesOf(customer.id))[1].status).toBe('sent');
  });

  it('keeps a push that a meter error report failed as failed, even if its re-send is then answered "already exists"', async () => {
    const outbox = service.app.get(PushOutbox);
    const customer = await admin.createCustomer('free');
    const identifier = `tg_guard_${customer.id}`;
    const now = new Date();
    await outbox.plan([
      { identifier, customerId: customer.id, stripeCustomerId: 'cus_gone', meter: 'api_calls', eventName: 'tollgate_api_calls', periodStart: new Date(now.getTime() - HOUR), periodEnd: new Date(now.getTime() + HOUR), fromTotal: 0, toTotal: 5, delta: 5, eventTimestamp: now, status: 'pending' },
    ]);
    // The report lands while the push is still pending (e.g. between a reset-after-apply and its retry).
    expect(await outbox.failByIdentifiers([{ identifier, code: 'meter_event_customer_not_found', message: 'No such customer: cus_gone' }])).toHaveLength(1);
    const [{ id }] = await database.query<{ id: string }>(`SELECT id FROM stripe_pushes WHERE identifier = $1`, [identifier]);
    // The retry's "An event already exists with identifier …" would confirm it: it must not turn failed into sent.
    expect(await outbox.markSent(id)).toBe(false);
    await outbox.markFailed(id, 'a late refusal of the retry');
    expect(await pushesOf(customer.id)).toEqual([expect.objectContaining({ status: 'failed', failure_code: 'meter_event_customer_not_found' })]);
  });

  it('refuses an event with a bad or missing signature with 400', async () => {
    const body = JSON.stringify({ id: 'evt_test_1', object: 'v2.core.event', type: 'v1.billing.meter.no_meter_found', created: new Date().toISOString() });
    const url = `${service.url}/v1/billing/stripe/events`;
    const forged = await call('POST', url, { body, headers: { 'stripe-signature': emulator.signWebhook(body, undefined, 'whsec_not_the_secret') } });
    expect(forged.status).toBe(400);
    expect(forged.body.error).toBe('invalid_signature');
    expect((await call('POST', url, { body })).status).toBe(400);
    // The same check passes a genuine one (a ping: received, nothing to do).
    const ping = JSON.stringify({ id: 'evt_test_2', object: 'v2.core.event', type: 'v2.core.event_destination.ping', created: new Date().toISOString() });
    const signed = await call('POST', url, { body: ping, headers: { 'stripe-signature': emulator.signWebhook(ping, undefined, DESTINATION_SECRET) } });
    expect(signed.status).toBe(200);
    expect(signed.body).toEqual({ received: true, ignored: true });
  });

  it('re-sends usage refused by an archived meter once an active meter takes the event name', async () => {
    const customer = customers.archived;
    const old = await activeMeterId('tollgate_api_calls');
    await stripe.billing.meters.deactivate(old);
    await ingest(customer.id, 45, 'archived-1');
    expect(await sync()).toMatchObject({ sent: 1 });
    await emulator.advanceBy(PAST_THE_LAG);
    const [push] = await pushesOf(customer.id);
    expect(push).toMatchObject({ status: 'failed', failure_code: 'archived_meter' });
    expect((await sync()).blocked).toBeGreaterThanOrEqual(1);
    // Stripe refusing the key while the counter waits (its meter cannot be looked up) fails nothing: it keeps waiting.
    emulator.unauthorizedFor(60_000);
    try {
      const during = await admin.request('POST', '/v1/billing/sync');
      expect(during.status).toBe(200);
      expect(during.body.blocked).toBeGreaterThanOrEqual(1);
    } finally {
      emulator.faults.unauthorizedUntilMs = 0;
    }

    const recreated = await stripe.billing.meters.create({
      display_name: 'api_calls',
      event_name: 'tollgate_api_calls',
      default_aggregation: { formula: 'sum' },
      customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
      value_settings: { event_payload_key: 'value' },
    });
    expect(await sync()).toMatchObject({ sent: 1 });
    expect((await pushesOf(customer.id))[1]).toMatchObject({ status: 'sent', delta: '45' });
    expect(await meterTotal(customer)).toBe(45);
    expect(await activeMeterId('tollgate_api_calls')).toBe(recreated.id);
  });

  it('finds the active meter past the first page of meters (reconciliation reads the right one)', async () => {
    const customer = customers.paged;
    await ingest(customer.id, 64, 'paged-1');
    expect(await sync()).toMatchObject({ sent: 1 });
    // 105 newer meters: Stripe lists newest first, 100 at most per page.
    for (let i = 0; i < 105; i++) {
      await stripe.billing.meters.create({
        display_name: `other ${i}`,
        event_name: `other_meter_${i}`,
        default_aggregation: { formula: 'sum' },
        customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
        value_settings: { event_payload_key: 'value' },
      });
    }
    await emulator.advanceBy(PAST_THE_LAG);
    const row = (await admin.request('GET', '/v1/billing/reconciliation')).body.rows.find((r: { customerId: string; meter: string }) => r.customerId === customer.id && r.meter === 'api_calls');
    expect(row).toMatchObject({ pushedTotal: 64, stripeTotal: 64, drift: 0 });
  });

  it('syncs right after a customer’s period ends, and warns when late events could miss the invoice', async () => {
    const customer = customers.close;
    await ingest(customer.id, 9, 'close-1');
    const scheduler = service.app.get(PeriodCloseScheduler);
    // No period has ended: nothing runs.
    expect(await scheduler.check(new Date())).toBe(false);
    expect(await pushesOf(customer.id)).toEqual([]);
    // The customer's period ends: a sync runs TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS later.
    const end = Date.parse(customer.currentPeriod.end);
    const config = service.app.get(TollgateConfig);
    expect(await scheduler.check(new Date(end - HOUR))).toBe(false);
    expect(await pushesOf(customer.id)).toEqual([]);
    expect(await scheduler.check(new Date(end + config.periodCloseSyncDelayMs + 1000))).toBe(true);
    expect(await pushesOf(customer.id)).toEqual([expect.objectContaining({ status: 'sent', delta: '9' })]);
    // And again once the period's late-event grace (TOLLGATE_LATE_EVENT_GRACE_MS) is over, for the late events.
    const grace = config.lateEventGraceMs;
    expect(await scheduler.check(new Date(end + grace))).toBe(false);
    await ingest(customer.id, 2, 'close-late');
    expect(await scheduler.check(new Date(end + grace + config.periodCloseSyncDelayMs + 1000))).toBe(true);
    expect((await pushesOf(customer.id)).map((push) => [push.status, push.delta])).toEqual([
      ['sent', '9'],
      ['sent', '2'],
    ]);

    // At the defaults (late events for 50 min, pushed 1 min later, Stripe finalizing after 1 h) nothing to warn of.
    expect(service.logs.text).not.toContain('late events are accepted until');
    expect((await admin.request('GET', '/v1/billing/reconciliation')).body.warnings).toEqual([]);
    // Late events for a whole hour, as Stripe's grace: the last ones cannot make it, and both places say so.
    try {
      config.lateEventGraceMs = HOUR;
      expect((await admin.request('GET', '/v1/billing/reconciliation')).body.warnings).toEqual([expect.stringContaining('finalization grace')]);
      config.stripeFinalizationGraceMs = 2 * HOUR;
      expect((await admin.request('GET', '/v1/billing/reconciliation')).body.warnings).toEqual([]);
    } finally {
      config.lateEventGraceMs = grace;
      config.stripeFinalizationGraceMs = HOUR;
    }
  });
  it('syncs a period that closed while the instance was down: a scheduler looks back one finalization grace at start', async () => {
    const customer = customers.restart;
    await ingest(customer.id, 4, 'restart-1');
    // Its period ended 10 minutes ago, before this (re)started scheduler existed.
    await database.query(`UPDATE usage_counters SET period_end = now() - interval '10 minutes' WHERE customer_id = $1`, [customer.id]);
    const restarted = new PeriodCloseScheduler(service.app.get(UsageLedger), service.app.get(UsageSyncService), service.app.get(TollgateConfig));
    expect(await restarted.check()).toBe(true);
    expect((await pushesOf(customer.id)).map((push) => [push.status, push.delta])).toEqual([['sent', '4']]);
  });

  it('warns at start-up when late events could miss the invoice (late-event grace + sync delay > finalization grace)', async () => {
    const misconfigured = await startTestApp(database, {
      config: stripeConfig(database, emulator, { catalog: parseTierCatalog(TIERS), lateEventGraceMs: HOUR }),
    });
    try {
      expect(misconfigured.logs.text).toContain('late events are accepted until 60 min after a period ends');
      expect(misconfigured.logs.text).toContain('STRIPE_FINALIZATION_GRACE_MS');
      expect(misconfigured.logs.text).toContain('TOLLGATE_LATE_EVENT_GRACE_MS');
    } finally {
      await misconfigured.close();
    }
  });

  it('checks a push pending for more than 23 hours against what Stripe should hold, leaving out an earlier refused push', async () => {
    const customer = customers.stale;
    await ingest(customer.id, 100, 'stale-1');
    expect(await sync()).toMatchObject({ sent: 1 });
    await ingest(customer.id, 30, 'stale-2');
    emulator.faults = { ...emulator.faults, resetAfterApplyRate: 1, onlyPaths: /meter_events/ };
    try {
      expect(await sync()).toMatchObject({ sent: 0, stillPending: 1 });
    } finally {
      emulator.faults = { ...emulator.faults, resetAfterApplyRate: 0, onlyPaths: undefined };
    }
    const [first, second] = await pushesOf(customer.id);
    // Stripe refuses the first one after all (as a meter error report says; its event never counts).
    await stripe.billing.meterEventAdjustments.create({ event_name: 'tollgate_api_calls', type: 'cancel', cancel: { identifier: first.identifier } });
    await database.query(`UPDATE stripe_pushes SET status = 'failed', failure_code = 'meter_event_invalid_value' WHERE id = $1`, [first.id]);
    // A day later on both sides: Stripe holds 30, which is all it should hold with the second push applied.
    await database.query(`UPDATE stripe_pushes SET created_at = now() - interval '25 hours' WHERE id = $1`, [second.id]);
    await emulator.advanceBy(25 * 3600);
    const before = emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length;
    await sync();
    expect(emulator.requests.filter((r) => r.path === '/v1/billing/meter_events').length).toBe(before);
    expect((await pushesOf(customer.id))[1].status).toBe('sent');
    expect(await meterTotal(customer)).toBe(30);
  });
  it('sends usage that a dry run (Stripe briefly off) already recorded: dry-run rows never take a real push’s identifier', async () => {
    const customer = customers.dryRunGap;
    await ingest(customer.id, 7, 'gap-1');
    // The same database served for a while without STRIPE_SECRET_KEY (a key removed by mistake, say): a dry run.
    const withoutStripe = await startTestApp(database, { config: testConfig(database) });
    try {
      const dry = await call('POST', `${withoutStripe.url}/v1/billing/sync`, { bearer: TEST_ADMIN_TOKEN });
      expect(dry.body).toMatchObject({ ran: true, dryRun: true });
    } finally {
      await withoutStripe.close();
    }
    expect(await pushesOf(customer.id)).toEqual([expect.objectContaining({ status: 'dry_run', delta: '7' })]);
    // Stripe is back: the 7 calls are sent, not skipped as "already planned".
    expect(await sync()).toMatchObject({ sent: 1 });
    expect((await pushesOf(customer.id)).map((push) => [push.status, push.delta])).toEqual([
      ['dry_run', '7'],
      ['sent', '7'],
    ]);
  });
});
