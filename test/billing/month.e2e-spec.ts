import { jest } from '@jest/globals';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import { BILLING_DRIFT_DETECTED } from '../../src/billing/billing.events.js';
import { parseTierCatalog } from '../../src/config/tier-catalog.js';
import type { StripeEmulator, StripeObject } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { startStripe, stripeConfig } from '../support/billing-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

/**
 * The money test: one billing month, simulated on one clock shared by Tollgate (Date, faked) and the Stripe
 * emulator (its test clock), for 52 customers on every tier. Usage arrives all month and is pushed by the
 * sync as the hourly scheduler would run it, through a 401 window, a 429 storm and connections reset after
 * Stripe applied the request; customers upgrade, downgrade, cancel, or never pay. Then the emulator renews,
 * invoices and — after the finalization grace, with late events in between — finalizes. Every finalized
 * invoice must equal Tollgate's preview of that customer and period to the cent, and every acknowledged
 * usage event must be on exactly one invoice or named in a drift alert.
 */

const CATALOG = `
tiers:
  free:
    price: 0
    included_calls: 1000/month
    rate_limit: 10/min
    endpoints: [/v1/basic/*]
  starter:
    price: 19/month
    included_calls: 10000/month
    rate_limit: 100/min
    endpoints: [/v1/basic/*]
    overage: $0.003/call
  pro:
    price: 49/month
    included_calls: 50000/month
    rate_limit: 100/min
    endpoints: [/v1/*]
    overage:
      mode: graduated
      bands:
        - { up_to: 100000, unit_price: $0.002 }
        - { up_to: inf, unit_price: $0.0015, flat_fee: 5 }
  scale:
    price: 199.99/month
    included_calls: 200000/month
    rate_limit: 1000/min
    endpoints: [/v1/*]
    overage:
      mode: volume
      bands:
        - { up_to: 300000, unit_price: $0.0012 }
        - { up_to: inf, unit_price: $0.0008, flat_fee: 25 }
  enterprise:
    price: custom
    included_calls: custom
    rate_limit: custom
    endpoints: [/v1/*, /v1/admin/*]
`;

/** The base prices of the catalog above, in cents. */
const BASE_MINOR: Record<string, number> = { starter: 1900, pro: 4900, scale: 19999 };
const MINUTE = 60;
const HOUR = 3600;
const DAY = 86_400;

/**
 * The start of the simulated period: 10:00 UTC on the latest 31st whose next period (it ends on a shorter
 * month's last day: the anchor day must survive it) closed more than two days ago. The month lies in the
 * past so that Tollgate's faked clock never runs ahead of the database's own now().
 */
function periodStart(): number {
  const now = new Date();
  for (let back = 1; back < 15; back += 1) {
    const start = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 31, 10);
    if (new Date(start).getUTCDate() !== 31) continue;
    const next = new Date(start);
    const end = Date.UTC(next.getUTCFullYear(), next.getUTCMonth() + 1, Math.min(31, new Date(Date.UTC(next.getUTCFullYear(), next.getUTCMonth() + 2, 0)).getUTCDate()), 10);
    if (end + 2 * DAY * 1000 < now.getTime()) return start / 1000;
  }
  throw new Error('no 31st found');
}

type Role = 'plain' | 'upgrade' | 'downgrade' | 'cancel' | 'quit' | 'incomplete' | 'racing';
interface Plan {
  tier: string;
  /** Usage over the month. */
  usage: number;
  role: Role;
}
interface Subject extends Plan {
  id: string;
  stripeCustomerId: string | null;
  stripeSubscriptionId: string | null;
  /** Acknowledged usage (accepted by POST /v1/events), by occurrence time. */
  acknowledged: Array<{ key: string; quantity: number; at: number }>;
}

const PLANS: Plan[] = [
  ...[200, 700, 950, 1000].map((usage) => ({ tier: 'free', usage, role: 'plain' as Role })),
  ...[5_000, 120_000].map((usage) => ({ tier: 'enterprise', usage, role: 'plain' as Role })),
  ...[0, 2_000, 9_999, 10_000, 10_001, 12_345, 20_000, 33_333, 50_000, 75_000, 99_999, 150_000, 210_000, 400_001, 41_000].map((usage) => ({ tier: 'starter', usage, role: 'plain' as Role })),
  { tier: 'starter', usage: 90_000, role: 'upgrade' },
  ...[0, 30_000, 49_999, 50_000, 50_001, 80_000, 149_999, 150_000, 150_001, 260_000, 999_999, 1_500_000, 77_777].map((usage) => ({ tier: 'pro', usage, role: 'plain' as Role })),
  { tier: 'pro', usage: 140_000, role: 'cancel' },
  { tier: 'pro', usage: 180_000, role: 'quit' },
  { tier: 'pro', usage: 60_000, role: 'incomplete' },
  { tier: 'pro', usage: 300_000, role: 'racing' },
  ...[0, 150_000, 200_000, 200_001, 250_000, 299_999, 500_000, 500_001, 777_777, 2_000_000, 333_333, 450_000, 123_456].map((usage) => ({ tier: 'scale', usage, role: 'plain' as Role })),
  { tier: 'scale', usage: 640_000, role: 'downgrade' },
];

/** Usage rounds (days into the period), each followed by a sync as the hourly scheduler would run it. */
const ROUNDS = [1, 4, 7, 10, 13, 16, 19, 22, 25, 28];
/** Share of each customer's usage left for the end: the last hour, and late events inside the grace. */
const LAST_HOUR_SHARE = 0.04;
const LATE_SHARE = 0.03;

describe('one billing month, invoiced by Stripe, equals what Tollgate previews', () => {
  let database: TestDatabase;
  let emulator: StripeEmulator;
  let stripe: Stripe;
  let service: TestApp;
  let admin: AdminClient;
  const drifts: Array<{ customerId: string; meter: string; periodStart: Date; drift: number }> = [];
  const subjects: Subject[] = [];
  const T0 = periodStart();
  let T1 = 0;

  /** Moves both clocks to `at` (Unix seconds), running what the emulator has due on the way. */
  async function travel(at: number) {
    jest.setSystemTime(at * 1000);
    await emulator.advanceTo(at);
  }

  const sync = () => admin.request('POST', '/v1/billing/sync');

  async function ingest(events: Array<{ subject: Subject; quantity: number; key: string; timestamp?: number }>) {
    for (let i = 0; i < events.length; i += 500) {
      const batch = events.slice(i, i + 500);
      const response = await admin.request('POST', '/v1/events', {
        events: batch.map(({ subject, quantity, key, timestamp }) => ({
          customerId: subject.id,
          quantity,
          idempotencyKey: key,
          ...(timestamp !== undefined && { timestamp: new Date(timestamp * 1000).toISOString() }),
        })),
      });
      expect(response.status).toBe(200);
      for (const result of response.body.results as Array<{ index: number; status: string; reason?: string }>) {
        const event = batch[result.index];
        // Accepted, or a duplicate of an event accepted before: both are acknowledged, once.
        expect({ key: event.key, status: result.status, reason: result.reason }).toEqual({ key: event.key, status: expect.stringMatching(/^(accepted|duplicate)$/), reason: undefined });
        if (result.status === 'accepted') event.subject.acknowledged.push({ key: event.key, quantity: event.quantity, at: event.timestamp ?? Math.floor(Date.now() / 1000) });
      }
    }
  }

  /** Each customer's share of its month for one round (the remainder goes to the last round). */
  /** Customers whose subscription ended mid-period: their later usage is a free tier's, not this period's. */
  const gone = new Set<string>();
  function roundEvents(round: number, share: number, keyPrefix: string, filter: (subject: Subject) => boolean = () => true) {
    return subjects.filter((subject) => filter(subject) && !gone.has(subject.id)).flatMap((subject) => {
      const quantity = Math.floor(subject.usage * share);
      if (quantity === 0) return [];
      // Two events a round: one big, one small (a retry of the big one comes too, as a duplicate).
      const small = Math.min(quantity, 1 + (round % 7));
      return [
        { subject, quantity: quantity - small, key: `${keyPrefix}-${subject.id}-a` },
        { subject, quantity: small, key: `${keyPrefix}-${subject.id}-b` },
      ].filter((event) => event.quantity > 0);
    });
  }

  const meteredQuantity = (invoice: StripeObject) =>
    (invoice.lines.data as StripeObject[]).filter((line) => line.price?.recurring?.usage_type === 'metered').reduce((sum, line) => sum + Number(line.quantity), 0);

  beforeAll(async () => {
    // Only Date is faked (and it keeps ticking): timers, sockets and the database run on real time.
    jest.useFakeTimers({
      advanceTimers: true,
      now: (T0 - 2 * HOUR) * 1000,
      doNotFake: ['hrtime', 'nextTick', 'performance', 'queueMicrotask', 'requestAnimationFrame', 'cancelAnimationFrame', 'requestIdleCallback', 'cancelIdleCallback', 'setImmediate', 'clearImmediate', 'setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'],
    });
    database = await createTestDatabase();
    ({ emulator, stripe } = await startStripe());
    emulator.setClock(T0 - 2 * HOUR);
    service = await startTestApp(database, { config: stripeConfig(database, emulator, { catalog: parseTierCatalog(CATALOG) }) });
    admin = new AdminClient(service.url);
    // The endpoint an operator sets up: the event types Tollgate acts on.
    emulator.addWebhookEndpoint(`${service.url}/v1/stripe/webhooks`, {
      enabledEvents: [
        'customer.subscription.created',
        'customer.subscription.updated',
        'customer.subscription.deleted',
        'customer.subscription.paused',
        'customer.subscription.resumed',
        'invoice.created',
        'invoice.finalized',
        'invoice.paid',
        'invoice.payment_failed',
      ],
    });
    service.app.get(EventEmitter2).on(BILLING_DRIFT_DETECTED, (event: { customerId: string; meter: string; periodStart: Date; drift: number }) => drifts.push(event));
  }, 60_000);

  afterAll(async () => {
    jest.useRealTimers();
    await service?.close();
    await emulator?.stop();
    await database?.dispose();
  });

  it('runs the month: usage all month, sync through faults, tier changes, a cancellation, renewal, late events, finalization', async () => {
    expect((await admin.request('POST', '/v1/billing/provision')).status).toBe(200);
    for (const plan of PLANS) {
      const created = await admin.createCustomer(plan.tier === 'enterprise' ? 'enterprise' : 'free', plan.tier === 'enterprise' ? { overrides: { includedCalls: 1_000_000, rateLimit: ['1000/min'] } } : {});
      subjects.push({ ...plan, id: created.id, stripeCustomerId: null, stripeSubscriptionId: null, acknowledged: [] });
    }
    expect(subjects.length).toBeGreaterThanOrEqual(50);

    // Day 0: the paid customers subscribe; Stripe's default payment behaviour leaves them incomplete until
    // they pay the first invoice, which all do but one.
    await travel(T0);
    const subscribe = async (subject: Subject) => {
      const subscribed = await admin.request('POST', `/v1/customers/${subject.id}/subscription`, { tier: subject.tier });
      // 202: Stripe created the subscription, and it waits for its first payment.
      expect(subscribed.status).toBe(202);
      subject.stripeCustomerId = subscribed.body.stripeCustomerId;
      subject.stripeSubscriptionId = subscribed.body.stripeSubscriptionId;
      if (subject.role === 'incomplete') return;
      const [first] = emulator.invoices({ customer: subject.stripeCustomerId! });
      expect(first).toMatchObject({ billing_reason: 'subscription_create', status: 'open' });
      emulator.setPaymentOutcome(subject.stripeCustomerId!, 'succeeds');
      await emulator.payInvoice(first.id);
    };
    // Customers sign up side by side, a few at a time.
    const paid = subjects.filter((s) => s.tier !== 'free' && s.tier !== 'enterprise');
    for (let i = 0; i < paid.length; i += 6) await Promise.all(paid.slice(i, i + 6).map(subscribe));
    const item = (await stripe.subscriptions.retrieve(subjects.find((s) => s.tier === 'pro')!.stripeSubscriptionId!)).items.data[0] as Stripe.SubscriptionItem & { current_period_end: number };
    T1 = item.current_period_end;
    // Oct 31 → Nov 30 (or Jan 31 → Feb 28, …): the first period ends on a shorter month's last day.
    expect(new Date(T1 * 1000).getUTCDate()).toBeLessThan(31);
    for (const subject of subjects.filter((s) => s.stripeSubscriptionId && s.role !== 'incomplete')) {
      expect((await admin.request('GET', `/v1/customers/${subject.id}`)).body).toMatchObject({ tier: subject.tier, currentPeriod: { start: new Date(T0 * 1000).toISOString(), end: new Date(T1 * 1000).toISOString() } });
    }

    const regularShare = (1 - LAST_HOUR_SHARE - LATE_SHARE) / ROUNDS.length;
    const upgrader = subjects.find((s) => s.role === 'upgrade')!;
    const downgrader = subjects.find((s) => s.role === 'downgrade')!;
    const canceller = subjects.find((s) => s.role === 'cancel')!;
    const racer = subjects.find((s) => s.role === 'racing')!;
    const quitter = subjects.find((s) => s.role === 'quit')!;

    for (const [index, day] of ROUNDS.entries()) {
      const at = T0 + day * DAY + 2 * HOUR;
      await travel(at);
      const events = roundEvents(index, regularShare, `r${index}`);
      await ingest(events);
      if (index === 2) await ingest(events.slice(0, 40)); // client retries: duplicates, acknowledged once
      await travel(at + 10 * MINUTE);

      const answered = (status: number) => emulator.requests.filter((request) => request.path === '/v1/billing/meter_events' && request.status === status).length;
      if (day === 10) {
        // A 401 window (a rolled key): the sync fails while it lasts; the next hourly run pushes it all.
        const before = answered(401);
        emulator.unauthorizedFor(1_500);
        await sync();
        await new Promise((resolve) => setTimeout(resolve, 1_600));
        expect(answered(401)).toBeGreaterThan(before);
        await travel(at + 70 * MINUTE);
      } else if (day === 13) {
        // A 429 storm: Stripe refuses the next 120 requests (no Stripe-Should-Retry header, as Stripe may send).
        const before = answered(429);
        emulator.faults.rateLimitBurst = { remaining: 120, shouldRetryHeader: null };
        await sync();
        emulator.faults.rateLimitBurst = { remaining: 0, shouldRetryHeader: null };
        expect(answered(429)).toBeGreaterThan(before);
        await travel(at + 70 * MINUTE);
      } else if (day === 16) {
        // Connections reset after Stripe applied the meter event: the retry meets "An event already exists".
        const before = answered(0);
        emulator.faults = { ...emulator.faults, resetAfterApplyRate: 0.5, onlyPaths: /meter_events/ };
        await sync();
        emulator.faults = { ...emulator.faults, resetAfterApplyRate: 0, onlyPaths: undefined };
        expect(answered(0)).toBeGreaterThan(before);
        await travel(at + 70 * MINUTE);
      }
      expect((await sync()).status).toBe(200);
      if (day === 22) {
        // Half a minute after the scheduler's push, before Stripe processed it, a customer upgrades: Stripe's
        // closing invoice item misses that push, and the new price bills only usage stamped after the change.
        await travel(at + 10 * MINUTE + 30);
        const upgraded = await admin.request('POST', `/v1/customers/${racer.id}/subscription`, { tier: 'scale' });
        expect(upgraded.status).toBe(200);
        racer.tier = 'scale';
      }
      // Stripe processes meter events asynchronously: a few minutes later they show.
      await travel(at + 2 * HOUR);

      if (day === 10) {
        // Usage after the last sync, then the upgrade: Stripe bills it at the new price (pushed after the change).
        await ingest([{ subject: upgrader, quantity: 4_321, key: `up-late-${upgrader.id}` }]);
        const upgraded = await admin.request('POST', `/v1/customers/${upgrader.id}/subscription`, { tier: 'pro' });
        expect(upgraded.status).toBe(200);
        expect(upgraded.body.tier).toBe('pro');
        upgrader.tier = 'pro';
      }
      if (day === 16) {
        await ingest([{ subject: downgrader, quantity: 12_345, key: `down-late-${downgrader.id}` }]);
        const downgraded = await admin.request('POST', `/v1/customers/${downgrader.id}/subscription`, { tier: 'pro' });
        expect(downgraded.status).toBe(200);
        expect(downgraded.body.tier).toBe('pro');
        downgrader.tier = 'pro';
      }
      if (day === 19) {
        // One customer cancels in Stripe's portal at the period end (Stripe's default there); another cancels
        // right away, without a final invoice (Stripe's default for DELETE): its usage so far is billed nowhere.
        await stripe.subscriptions.update(canceller.stripeSubscriptionId!, { cancel_at_period_end: true });
        await stripe.subscriptions.cancel(quitter.stripeSubscriptionId!);
        gone.add(quitter.id);
        await emulator.flush();
      }
    }

    // The last hour: usage, and the scheduler's last run inside the period.
    await travel(T1 - HOUR);
    await ingest(roundEvents(20, LAST_HOUR_SHARE, 'last'));
    await travel(T1 - 55 * MINUTE);
    expect((await sync()).status).toBe(200);

    // The period ends: Stripe renews, creates the draft invoices; the draft waits for the finalization grace.
    await travel(T1 + MINUTE);
    const drafts = emulator.invoices({ status: 'draft' });
    expect(drafts.length).toBeGreaterThanOrEqual(40);

    // Late events (they happened before the end, reported now: inside the late-event grace), then the
    // period-close sync, as the scheduler runs it right after a period ends. The scheduler's own runs go on in
    // the background: a sync asked for while one is in flight is answered by a run that started after the call.
    await travel(T1 + 20 * MINUTE);
    await ingest(
      roundEvents(21, LATE_SHARE, 'late').map((event) => ({ ...event, timestamp: T1 - 3 * MINUTE })),
    );
    await travel(T1 + 25 * MINUTE);
    expect((await sync()).status).toBe(200);

    // Past the finalization grace: every draft is finalized (and paid).
    await travel(T1 + HOUR + 5 * MINUTE);
    await travel(T1 + 2 * HOUR);
  }, 120_000);

  const previewQuery = () => `at=${encodeURIComponent(new Date((T1 - 1) * 1000).toISOString())}`;
  const paying = () => subjects.filter((s) => s.stripeCustomerId && s.role !== 'incomplete');

  it('bills each paying customer its signup invoice and one invoice closing the period, and nothing to the one who never paid', () => {
    expect(T1).toBeGreaterThan(T0);
    for (const subject of subjects.filter((s) => s.stripeCustomerId)) {
      const invoices = emulator.invoices({ customer: subject.stripeCustomerId! });
      if (subject.role === 'incomplete') {
        // The subscription expired after 23 hours: its first invoice was voided, nothing else was invoiced.
        expect(invoices.map((invoice) => [invoice.billing_reason, invoice.status])).toEqual([['subscription_create', 'void']]);
        continue;
      }
      // The signup invoice: the first period's base, in advance, paid.
      const initialTier = PLANS[subjects.indexOf(subject)].tier;
      expect(invoices.filter((invoice) => invoice.billing_reason === 'subscription_create').map((invoice) => [invoice.status, invoice.total])).toEqual([['paid', BASE_MINOR[initialTier]]]);
      const closing = invoices.filter((invoice) => invoice.billing_reason !== 'subscription_create');
      if (subject.role === 'quit') {
        expect(closing).toEqual([]); // cancelled mid-period without invoice_now: nothing more is invoiced
        continue;
      }
      expect({ customer: subject.id, invoices: closing.map((invoice) => [invoice.billing_reason, invoice.status, invoice.period_start, invoice.period_end]) }).toEqual({
        customer: subject.id,
        invoices: [['subscription_cycle', 'paid', T0, T1]],
      });
    }
  });

  it('every finalized invoice equals Tollgate’s preview of that customer and period, to the cent', async () => {
    const comparisons: Array<{ customer: string; tier: string; role: Role; invoice: number | null; preview: number | null }> = [];
    for (const subject of paying().filter((s) => s.role !== 'quit')) {
      const [invoice] = emulator.invoices({ customer: subject.stripeCustomerId! }).filter((candidate) => candidate.status !== 'draft' && candidate.billing_reason === 'subscription_cycle');
      const preview = await admin.request('GET', `/v1/customers/${subject.id}/invoice-preview?${previewQuery()}`);
      expect(preview.status).toBe(200);
      expect(preview.body.period).toEqual({ start: new Date(T0 * 1000).toISOString(), end: new Date(T1 * 1000).toISOString() });
      comparisons.push({ customer: subject.id, tier: subject.tier, role: subject.role, invoice: invoice?.total ?? null, preview: preview.body.totalMinor ?? null });
    }
    expect(comparisons.length).toBeGreaterThanOrEqual(40);
    expect(comparisons.filter((row) => row.invoice !== row.preview)).toEqual([]);
    // A period is asked for by an instant in it; anything else is a clear 400.
    for (const bad of ['yesterday', '2026-13-01T00:00:00Z', '1900-01-01T00:00:00Z']) {
      const refused = await admin.request('GET', `/v1/customers/${subjects[0].id}/invoice-preview?at=${encodeURIComponent(bad)}`);
      expect([refused.status, refused.body.error]).toEqual([400, 'validation_failed']);
    }
    // Free customers are never invoiced and preview nothing.
    for (const subject of subjects.filter((s) => s.tier === 'free')) {
      expect((await admin.request('GET', `/v1/customers/${subject.id}/invoice-preview?${previewQuery()}`)).body.total).toBe('0.00');
    }
  });

  it('every acknowledged usage event is on exactly one invoice or named in a drift alert', () => {
    const unaccounted: unknown[] = [];
    for (const subject of paying()) {
      const acknowledged = subject.acknowledged.filter((event) => event.at >= T0 && event.at < T1).reduce((sum, event) => sum + event.quantity, 0);
      const invoiced = emulator
        .invoices({ customer: subject.stripeCustomerId! })
        .filter((invoice) => invoice.status !== 'draft' && invoice.status !== 'void')
        .reduce((sum, invoice) => sum + meteredQuantity(invoice), 0);
      const alerted = drifts.filter((drift) => drift.customerId === subject.id && new Date(drift.periodStart).getTime() === T0 * 1000).reduce((sum, drift) => sum + Math.abs(drift.drift), 0);
      if (invoiced + alerted !== acknowledged) unaccounted.push({ customer: subject.id, tier: subject.tier, role: subject.role, acknowledged, invoiced, alerted });
    }
    expect(unaccounted).toEqual([]);
    // The only usage on no invoice is named in alerts, with its customer, meter and period: the push Stripe had
    // not processed when the racing customer upgraded, and the period so far of the customer who quit.
    const racer = subjects.find((s) => s.role === 'racing')!;
    const quitter = subjects.find((s) => s.role === 'quit')!;
    expect(drifts.map((drift) => drift.customerId).sort()).toEqual([racer.id, quitter.id].sort());
    expect(drifts.find((drift) => drift.customerId === racer.id)).toMatchObject({ meter: 'api_calls', drift: Math.floor(racer.usage * ((1 - LAST_HOUR_SHARE - LATE_SHARE) / ROUNDS.length)) });
    expect(drifts.find((drift) => drift.customerId === quitter.id)).toMatchObject({ meter: 'api_calls', stripeTotal: 0 });
    // No meter event was applied twice, whatever the faults did to the connections.
    expect([...emulator.appliedIdentifierCounts().values()].filter((count) => count > 1)).toEqual([]);
  });

  it('grants no tier to the customer who never paid, and takes it back from those who cancelled', async () => {
    const incomplete = subjects.find((s) => s.role === 'incomplete')!;
    const canceller = subjects.find((s) => s.role === 'cancel')!;
    expect((await admin.request('GET', `/v1/customers/${incomplete.id}`)).body.tier).toBe('free');
    expect((await admin.request('GET', `/v1/customers/${canceller.id}`)).body.tier).toBe('free');
    expect((await admin.request('GET', `/v1/customers/${subjects.find((s) => s.role === 'quit')!.id}`)).body.tier).toBe('free');
  });
});
