import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { noFaults, StripeEmulator } from './stripe-emulator.js';

/**
 * The emulator driven only through the real `stripe` SDK (plus its inspection API): if these pass, the SDK
 * and Tollgate's expectations of Stripe agree with what the emulator does.
 */
describe('Stripe emulator, through the real SDK', () => {
  const webhookSecret = 'whsec_emulator_spec_secret';
  let emulator: StripeEmulator;
  let stripe: Stripe;
  const client = (options: Stripe.StripeConfig = {}, key = 'sk_test_emulator') =>
    new Stripe(key, { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0, ...options });
  const decimal = (value: string) => Stripe.Decimal.from(value);
  /** 2026-01-31 12:00:00 UTC: a month end, so monthly periods show Stripe's day clamping. */
  const T0 = Date.UTC(2026, 0, 31, 12) / 1000;
  const errorOf = async (promise: Promise<unknown>): Promise<any> => {
    try {
      await promise;
    } catch (error) {
      return error;
    }
    throw new Error('expected the call to fail');
  };

  beforeAll(async () => {
    emulator = await StripeEmulator.start({ webhookSecret });
    stripe = client();
  });

  afterAll(async () => {
    await emulator.stop();
  });

  afterEach(() => {
    emulator.faults = noFaults();
    emulator.setClock(null);
  });

  let sequence = 0;
  const unique = (name: string) => `${name}_${++sequence}_${Date.now()}`;

  async function meteredSetup(options: { formula?: 'sum' | 'count' } = {}) {
    const customer = await stripe.customers.create({ email: 'ada@example.com', name: 'Ada' });
    const meter = await stripe.billing.meters.create({
      display_name: 'API calls',
      event_name: unique('api_calls'),
      default_aggregation: { formula: options.formula ?? 'sum' },
      customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
      value_settings: { event_payload_key: 'value' },
    });
    const send = (value: string, extra: { identifier?: string; timestamp?: number } = {}, options?: Stripe.RequestOptions) =>
      stripe.billing.meterEvents.create({ event_name: meter.event_name, payload: { stripe_customer_id: customer.id, value }, ...extra }, options);
    return { customer, meter, send };
  }

  describe('authentication and errors', () => {
    it('refuses requests without a test secret key, in Stripe error shape', async () => {
      const error = await errorOf(client({}, 'sk_live_not_accepted').customers.create({}));
      expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
      expect(error.statusCode).toBe(401);
    });

    it('answers 404 resource_missing for an unknown object', async () => {
      const error = await errorOf(stripe.products.retrieve('prod_does_not_exist'));
      expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe('resource_missing');
    });
  });

  describe('catalog', () => {
    it('creates, updates and retrieves customers (metadata merges, empty values remove keys)', async () => {
      const customer = await stripe.customers.create({ email: 'a@example.com', name: 'A', metadata: { tollgate_customer_id: 'c1', plan: 'free' } });
      expect(customer).toMatchObject({ object: 'customer', email: 'a@example.com', metadata: { tollgate_customer_id: 'c1', plan: 'free' } });
      expect(customer.id).toMatch(/^cus_/);
      const updated = await stripe.customers.update(customer.id, { email: 'b@example.com', metadata: { plan: '', tier: 'pro' } });
      expect(updated.metadata).toEqual({ tollgate_customer_id: 'c1', tier: 'pro' });
      expect((await stripe.customers.retrieve(customer.id)) as Stripe.Customer).toMatchObject({ email: 'b@example.com', name: 'A' });
    });

    it('creates products with a chosen id, refuses a duplicate id, lists them', async () => {
      const id = unique('tollgate_pro');
      const product = await stripe.products.create({ id, name: 'Pro plan', metadata: { tollgate_tier: 'pro' } });
      expect(product).toMatchObject({ id, object: 'product', active: true, name: 'Pro plan' });
      const duplicate = await errorOf(stripe.products.create({ id, name: 'again' }));
      expect(duplicate.statusCode).toBe(400);
      expect(duplicate.code).toBe('resource_already_exists');
      expect((await stripe.products.retrieve(id)).name).toBe('Pro plan');
      const listed = await stripe.products.list({ ids: [id] });
      expect(listed.object).toBe('list');
      expect(listed.data.map((p) => p.id)).toEqual([id]);
    });

    it('creates meters, refuses a second active meter for an event name, lists newest first with pagination', async () => {
      const eventName = unique('tokens');
      const meter = await stripe.billing.meters.create({ display_name: 'Tokens', event_name: eventName, default_aggregation: { formula: 'sum' } });
      expect(meter).toMatchObject({
        object: 'billing.meter',
        status: 'active',
        event_name: eventName,
        default_aggregation: { formula: 'sum' },
        customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
        value_settings: { event_payload_key: 'value' },
      });
      expect(meter.id).toMatch(/^mtr_/);
      const duplicate = await errorOf(stripe.billing.meters.create({ display_name: 'again', event_name: eventName, default_aggregation: { formula: 'sum' } }));
      expect(duplicate.statusCode).toBe(400);
      expect(duplicate.param).toBe('event_name');
      expect((await stripe.billing.meters.retrieve(meter.id)).event_name).toBe(eventName);
      const second = await stripe.billing.meters.create({ display_name: 'Other', event_name: unique('other'), default_aggregation: { formula: 'count' } });
      const page = await stripe.billing.meters.list({ limit: 1 });
      expect(page.data.map((m) => m.id)).toEqual([second.id]);
      expect(page.has_more).toBe(true);
      const next = await stripe.billing.meters.list({ limit: 1, starting_after: second.id });
      expect(next.data.map((m) => m.id)).toEqual([meter.id]);
      expect((await stripe.billing.meters.list({ limit: 100, status: 'active' })).data.map((m) => m.id)).toEqual(expect.arrayContaining([meter.id, second.id]));
    });

    it('creates prices: lookup_key unique among active prices unless transferred, found by lookup_keys', async () => {
      const product = await stripe.products.create({ name: 'Pro' });
      const lookupKey = unique('tollgate_pro_base');
      const base = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 4900, recurring: { interval: 'month' }, lookup_key: lookupKey });
      expect(base).toMatchObject({ object: 'price', type: 'recurring', unit_amount: 4900, lookup_key: lookupKey, recurring: { interval: 'month', usage_type: 'licensed', meter: null } });
      expect(base.unit_amount_decimal?.toString()).toBe('4900');
      const taken = await errorOf(stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 5900, recurring: { interval: 'month' }, lookup_key: lookupKey }));
      expect(taken.statusCode).toBe(400);
      expect(taken.param).toBe('lookup_key');
      const moved = await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        unit_amount: 5900,
        recurring: { interval: 'month' },
        lookup_key: lookupKey,
        transfer_lookup_key: true,
      });
      const found = await stripe.prices.list({ lookup_keys: [lookupKey, 'nothing_else'], active: true, limit: 100 });
      expect(found.data.map((price) => price.id)).toEqual([moved.id]);
      expect((await stripe.prices.retrieve(base.id)).lookup_key).toBeNull();
    });

    it('links metered prices to an existing meter and keeps graduated tiers exact (tiers shown when expanded)', async () => {
      const { meter } = await meteredSetup();
      const product = await stripe.products.create({ name: 'Usage' });
      const missingMeter = await errorOf(stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, recurring: { interval: 'month', usage_type: 'metered' } }));
      expect(missingMeter.param).toBe('recurring[meter]');
      const unknownMeter = await errorOf(
        stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, recurring: { interval: 'month', usage_type: 'metered', meter: 'mtr_nope' } }),
      );
      expect(unknownMeter.code).toBe('resource_missing');
      const price = await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
        billing_scheme: 'tiered',
        tiers_mode: 'graduated',
        tiers: [
          { up_to: 50_000, unit_amount_decimal: decimal('0') },
          { up_to: 'inf', unit_amount_decimal: decimal('0.2'), flat_amount: 100 },
        ],
        expand: ['tiers'],
      });
      expect(price).toMatchObject({ billing_scheme: 'tiered', tiers_mode: 'graduated', unit_amount: null, recurring: { usage_type: 'metered', meter: meter.id } });
      expect(price.tiers?.map((tier) => [tier.up_to, tier.unit_amount_decimal?.toString(), tier.flat_amount])).toEqual([
        [50_000, '0', null],
        [null, '0.2', 100],
      ]);
      expect((await stripe.prices.retrieve(price.id)).tiers).toBeUndefined();
      expect((await stripe.prices.retrieve(price.id, { expand: ['tiers'] })).tiers).toHaveLength(2);
      const badTiers = await errorOf(
        stripe.prices.create({
          product: product.id,
          currency: 'usd',
          recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
          billing_scheme: 'tiered',
          tiers_mode: 'graduated',
          tiers: [{ up_to: 10, unit_amount: 1 }],
        }),
      );
      expect(badTiers.message).toMatch(/last tier/);
    });
  });

  describe('meter events', () => {
    it('dedupes identifiers over a rolling 24 h: the second event is refused and counted once', async () => {
      const { customer, meter, send } = await meteredSetup();
      emulator.setClock(T0);
      const identifier = unique('push');
      const first = await send('12', { identifier });
      expect(first).toMatchObject({ object: 'billing.meter_event', identifier, event_name: meter.event_name, timestamp: T0, payload: { value: '12' } });
      const again = await errorOf(send('12', { identifier }));
      expect(again.statusCode).toBe(400);
      expect(again.code).toBe('resource_already_exists');
      expect(again.message).toContain(identifier);
      expect(emulator.appliedIdentifierCounts().get(identifier)).toBe(1);
      expect(emulator.meterTotal(meter.id, customer.id, T0 - 60, T0 + 60)).toBe(12);
      emulator.setClock(T0 + 86_400); // a day later the identifier may be used again
      await send('1', { identifier, timestamp: T0 + 86_400 });
      expect(emulator.appliedIdentifierCounts().get(identifier)).toBe(2);
    });

    it('generates an identifier when none is given', async () => {
      const { send } = await meteredSetup();
      const event = await send('3');
      expect(event.identifier).toMatch(/^\w{20,}$/);
      expect(emulator.appliedIdentifierCounts().get(event.identifier)).toBe(1);
    });

    it('accepts timestamps from 35 days back to 5 minutes ahead, refuses beyond', async () => {
      const { send } = await meteredSetup();
      emulator.setClock(T0);
      await expect(send('1', { timestamp: T0 - 35 * 86_400 })).resolves.toMatchObject({ timestamp: T0 - 35 * 86_400 });
      await expect(send('1', { timestamp: T0 + 300 })).resolves.toMatchObject({ timestamp: T0 + 300 });
      const old = await errorOf(send('1', { timestamp: T0 - 35 * 86_400 - 1 }));
      expect([old.statusCode, old.code]).toEqual([400, 'timestamp_too_far_in_past']);
      const future = await errorOf(send('1', { timestamp: T0 + 301 }));
      expect([future.statusCode, future.code]).toEqual([400, 'timestamp_in_future']);
    });

    it('reads form-encoded string values: integers (negative too), refuses fractions, unknown customers and event names', async () => {
      const { customer, meter, send } = await meteredSetup();
      emulator.setClock(T0);
      await send('100');
      await send('-30'); // a correction
      expect(emulator.meterEvents({ customer: customer.id }).map((event) => event.value)).toEqual([100, -30]);
      expect(emulator.meterTotal(meter.id, customer.id, T0, T0 + 1)).toBe(70);
      expect((await errorOf(send('1.5'))).param).toBe('payload[value]');
      expect((await errorOf(send('ten'))).param).toBe('payload[value]');
      const unknownCustomer = await errorOf(stripe.billing.meterEvents.create({ event_name: meter.event_name, payload: { stripe_customer_id: 'cus_nope', value: '1' } }));
      expect([unknownCustomer.statusCode, unknownCustomer.param]).toEqual([400, 'payload[stripe_customer_id]']);
      const noCustomer = await errorOf(stripe.billing.meterEvents.create({ event_name: meter.event_name, payload: { stripe_customer_id: '', value: '1' } }));
      expect(noCustomer.statusCode).toBe(400);
      const unknownEvent = await errorOf(stripe.billing.meterEvents.create({ event_name: 'no_such_event', payload: { stripe_customer_id: customer.id, value: '1' } }));
      expect(unknownEvent.param).toBe('event_name');
    });

    it('summarizes half-open [start, end) windows, hourly newest first, for sum and count meters', async () => {
      const { customer, meter, send } = await meteredSetup();
      emulator.setClock(T0 + 7200);
      for (const [value, at] of [
        ['5', T0],
        ['7', T0 + 3599],
        ['11', T0 + 3600],
        ['13', T0 + 7199],
      ] as const) {
        await send(value, { timestamp: at });
      }
      const sum = async (start: number, end: number) =>
        (await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: start, end_time: end })).data.map((s) => s.aggregated_value);
      expect(await sum(T0, T0 + 3600)).toEqual([12]);
      expect(await sum(T0 + 1, T0 + 3600)).toEqual([7]);
      expect(await sum(T0, T0 + 7200)).toEqual([36]);
      const hourly = await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: T0, end_time: T0 + 7200, value_grouping_window: 'hour' });
      expect(hourly.data.map((s) => [s.start_time, s.end_time, s.aggregated_value])).toEqual([
        [T0 + 3600, T0 + 7200, 24],
        [T0, T0 + 3600, 12],
      ]);
      expect(hourly.data[0]).toMatchObject({ object: 'billing.meter_event_summary', meter: meter.id, livemode: false });

      const counted = await meteredSetup({ formula: 'count' });
      emulator.setClock(T0);
      await counted.send('40');
      await counted.send('2');
      const count = await stripe.billing.meters.listEventSummaries(counted.meter.id, { customer: counted.customer.id, start_time: T0, end_time: T0 + 60 });
      expect(count.data[0].aggregated_value).toBe(2);
    });

    it('with strictSummaryAlignment, refuses the bounds Stripe refuses (minutes; hours / UTC days when grouped)', async () => {
      const strict = await StripeEmulator.start({ strictSummaryAlignment: true });
      try {
        const strictStripe = new Stripe('sk_test_strict', { host: '127.0.0.1', port: strict.port, protocol: 'http', maxNetworkRetries: 0 });
        const customer = await strictStripe.customers.create({});
        const meter = await strictStripe.billing.meters.create({ display_name: 'calls', event_name: 'calls', default_aggregation: { formula: 'sum' } });
        const summaries = (start: number, end: number, value_grouping_window?: 'hour' | 'day') =>
          strictStripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: start, end_time: end, ...(value_grouping_window && { value_grouping_window }) });
        await expect(summaries(T0, T0 + 60)).resolves.toMatchObject({ object: 'list' });
        expect((await errorOf(summaries(T0 + 1, T0 + 60))).param).toBe('start_time');
        expect((await errorOf(summaries(T0, T0 + 1800, 'hour'))).param).toBe('end_time');
        expect((await errorOf(summaries(T0, T0 + 86_400, 'day'))).param).toBe('start_time'); // T0 is noon UTC
      } finally {
        await strict.stop();
      }
    });

    it('cancels an event with a meter event adjustment: it stops counting', async () => {
      const { customer, meter, send } = await meteredSetup();
      emulator.setClock(T0);
      await send('10', { identifier: 'keep-1' });
      const mistaken = await send('99');
      const adjustment = await stripe.billing.meterEventAdjustments.create({ event_name: meter.event_name, type: 'cancel', cancel: { identifier: mistaken.identifier } });
      expect(adjustment).toMatchObject({ object: 'billing.meter_event_adjustment', type: 'cancel', cancel: { identifier: mistaken.identifier } });
      expect(emulator.meterTotal(meter.id, customer.id, T0, T0 + 1)).toBe(10);
      expect(emulator.meterEvents({ customer: customer.id }).find((event) => event.identifier === mistaken.identifier)?.cancelled).toBe(true);
      const summary = await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: T0, end_time: T0 + 60 });
      expect(summary.data[0].aggregated_value).toBe(10);
      const unknown = await errorOf(stripe.billing.meterEventAdjustments.create({ event_name: meter.event_name, type: 'cancel', cancel: { identifier: 'nope' } }));
      expect(unknown.statusCode).toBe(400);
    });
  });

  describe('idempotency', () => {
    it('replays the stored answer for the same key and parameters, applying once', async () => {
      const key = unique('idem');
      const first = await stripe.customers.create({ email: 'same@example.com' }, { idempotencyKey: key });
      const second = await stripe.customers.create({ email: 'same@example.com' }, { idempotencyKey: key });
      expect(second.id).toBe(first.id);
      expect(second.lastResponse.headers['idempotent-replayed']).toBe('true');
      expect(first.lastResponse.headers['idempotent-replayed']).toBeUndefined();
      expect((await stripe.customers.list({ email: 'same@example.com', limit: 100 })).data).toHaveLength(1);
      const logged = emulator.requests.filter((request) => request.idempotencyKey === key);
      expect(logged.map((request) => [request.status, request.replayed])).toEqual([
        [200, false],
        [200, true],
      ]);
    });

    it('refuses the same key with other parameters (idempotency_error)', async () => {
      const key = unique('idem');
      await stripe.customers.create({ email: 'one@example.com' }, { idempotencyKey: key });
      const error = await errorOf(stripe.customers.create({ email: 'two@example.com' }, { idempotencyKey: key }));
      expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
      expect(error.statusCode).toBe(400);
    });

    it('applies a meter event once for a replayed key, and forgets keys after 24 h', async () => {
      const { send } = await meteredSetup();
      emulator.setClock(T0);
      const identifier = unique('push');
      const a = await send('5', { identifier, timestamp: T0 }, { idempotencyKey: identifier });
      const b = await send('5', { identifier, timestamp: T0 }, { idempotencyKey: identifier });
      expect(b).toEqual(a);
      expect(emulator.appliedIdentifierCounts().get(identifier)).toBe(1);
      const key = unique('idem');
      const customer = await stripe.customers.create({ name: 'x' }, { idempotencyKey: key });
      emulator.setClock(T0 + 86_400);
      expect((await stripe.customers.create({ name: 'x' }, { idempotencyKey: key })).id).not.toBe(customer.id);
    });
  });

  describe('subscriptions', () => {
    async function catalog() {
      const { customer, meter, send } = await meteredSetup();
      const product = await stripe.products.create({ name: 'Pro plan' });
      const base = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 4900, recurring: { interval: 'month' } });
      const usage = await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
        billing_scheme: 'tiered',
        tiers_mode: 'graduated',
        tiers: [
          { up_to: 50_000, unit_amount_decimal: decimal('0') },
          { up_to: 'inf', unit_amount_decimal: decimal('0.2') },
        ],
      });
      return { customer, meter, send, product, base, usage };
    }

    it('puts monthly periods (from creation, clamped to month ends) on the items and on the subscription', async () => {
      emulator.setClock(T0);
      const { customer, base, usage } = await catalog();
      const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: base.id }, { price: usage.id }], metadata: { tollgate_tier: 'pro' } });
      const feb28 = Date.UTC(2026, 1, 28, 12) / 1000;
      expect(subscription).toMatchObject({ object: 'subscription', status: 'active', customer: customer.id, metadata: { tollgate_tier: 'pro' }, start_date: T0 });
      expect(subscription.items.data.map((item) => [item.price.id, item.quantity, item.current_period_start, item.current_period_end])).toEqual([
        [base.id, 1, T0, feb28],
        [usage.id, undefined, T0, feb28],
      ]);
      expect(subscription.items.data[0].id).toMatch(/^si_/);
      expect(subscription as unknown as Record<string, number>).toMatchObject({ current_period_start: T0, current_period_end: feb28 });
      emulator.setClock(Date.UTC(2026, 2, 5) / 1000); // time passes: the next period is anchored on the 31st again
      const later = await stripe.subscriptions.retrieve(subscription.id);
      expect([later.items.data[0].current_period_start, later.items.data[0].current_period_end]).toEqual([feb28, Date.UTC(2026, 2, 31, 12) / 1000]);
    });

    it('honours billing_cycle_anchor: a short first period up to the anchor', async () => {
      emulator.setClock(T0);
      const { customer, base } = await catalog();
      const anchor = T0 + 5 * 86_400;
      const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: base.id, quantity: 3 }], billing_cycle_anchor: anchor });
      expect([subscription.items.data[0].current_period_start, subscription.items.data[0].current_period_end, subscription.items.data[0].quantity]).toEqual([T0, anchor, 3]);
    });

    it('refuses a quantity on a metered item', async () => {
      const { customer, usage } = await catalog();
      const error = await errorOf(stripe.subscriptions.create({ customer: customer.id, items: [{ price: usage.id, quantity: 2 }] }));
      expect(error.param).toBe('items[0][quantity]');
    });

    it('updates items (price swap keeps the item, deleted removes, new ones are added), cancels, lists by customer', async () => {
      const { customer, product, base, usage } = await catalog();
      const subscription = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: base.id }] });
      const bigger = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 9900, recurring: { interval: 'month' } });
      const [item] = subscription.items.data;
      const swapped = await stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: bigger.id }], proration_behavior: 'none' });
      expect(swapped.items.data.map((i) => [i.id, i.price.id])).toEqual([[item.id, bigger.id]]);
      const replaced = await stripe.subscriptions.update(subscription.id, {
        items: [{ id: item.id, deleted: true }, { price: base.id }, { price: usage.id }],
        metadata: { tollgate_tier: 'pro' },
        proration_behavior: 'create_prorations',
      });
      expect(replaced.items.data.map((i) => i.price.id)).toEqual([base.id, usage.id]);
      expect(replaced.items.data.some((i) => i.id === item.id)).toBe(false);
      const yearly = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, recurring: { interval: 'year' } });
      expect((await errorOf(stripe.subscriptions.update(subscription.id, { items: [{ price: yearly.id }] }))).statusCode).toBe(400);

      expect((await stripe.subscriptions.list({ customer: customer.id })).data.map((s) => s.id)).toEqual([subscription.id]);
      const canceled = await stripe.subscriptions.cancel(subscription.id);
      expect(canceled.status).toBe('canceled');
      expect((await stripe.subscriptions.list({ customer: customer.id })).data).toHaveLength(0);
      expect((await stripe.subscriptions.list({ customer: customer.id, status: 'all' })).data.map((s) => s.status)).toEqual(['canceled']);
    });
  });

  describe('invoice preview (exact decimal pricing)', () => {
    async function subscribed(tiers: Stripe.PriceCreateParams.Tier[] | null, options: { tiersMode?: 'graduated' | 'volume'; unitAmountDecimal?: string; base?: boolean } = {}) {
      emulator.setClock(T0);
      const { customer, meter, send } = await meteredSetup();
      const product = await stripe.products.create({ name: 'Plan' });
      const usage = await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
        ...(tiers
          ? { billing_scheme: 'tiered' as const, tiers_mode: options.tiersMode ?? 'graduated', tiers }
          : { unit_amount_decimal: decimal(options.unitAmountDecimal ?? '1') }),
      });
      const items: Stripe.SubscriptionCreateParams.Item[] = [{ price: usage.id }];
      if (options.base !== false) {
        const base = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 4900, recurring: { interval: 'month' } });
        items.unshift({ price: base.id });
      }
      const subscription = await stripe.subscriptions.create({ customer: customer.id, items });
      const preview = () => stripe.invoices.createPreview({ customer: customer.id, subscription: subscription.id });
      return { customer, meter, send, subscription, usage, preview };
    }

    it('bills 49.00 USD base + 60 000 units on graduated tiers (50 000 free, then 0.2 cent) = 69.00 USD', async () => {
      const { send, preview, subscription, usage } = await subscribed([
        { up_to: 50_000, unit_amount_decimal: decimal('0') },
        { up_to: 'inf', unit_amount_decimal: decimal('0.2') },
      ]);
      await send('25000');
      await send('40000');
      await send('-5000'); // a correction
      const cancelled = await send('777');
      await stripe.billing.meterEventAdjustments.create({ event_name: (await stripe.billing.meters.retrieve(usage.recurring!.meter!)).event_name, type: 'cancel', cancel: { identifier: cancelled.identifier } });
      await send('1000', { timestamp: T0 - 3600 }); // before the period: not billed in it
      const invoice = await preview();
      const feb28 = Date.UTC(2026, 1, 28, 12) / 1000;
      expect(invoice).toMatchObject({ object: 'invoice', currency: 'usd', subtotal: 6900, total: 6900, amount_due: 6900, period_start: T0, period_end: feb28 });
      expect(invoice.lines.data.map((line) => [line.amount, line.quantity])).toEqual([
        [4900, 1],
        [2000, 60_000],
      ]);
      expect(invoice.lines.data[1]).toMatchObject({ object: 'line_item', pricing: { type: 'price_details', price_details: { price: usage.id } }, period: { start: T0, end: feb28 } });
      expect((invoice as unknown as { subscription: string }).subscription).toBe(subscription.id);
    });

    it('bills volume tiers on the whole quantity, with flat amounts, rounding half up once per line', async () => {
      const { send, preview } = await subscribed(
        [
          { up_to: 1000, unit_amount: 5, flat_amount: 100 },
          { up_to: 'inf', unit_amount_decimal: decimal('0.35'), flat_amount: 1000 },
        ],
        { tiersMode: 'volume', base: false },
      );
      await send('1000');
      expect((await preview()).total).toBe(100 + 1000 * 5);
      await send('1345');
      // 2345 units all in the second tier: 1000 + 2345 × 0.35 = 1820.75 → 1821
      expect((await preview()).total).toBe(1821);
    });

    it('bills per-unit decimal prices exactly', async () => {
      const { send, preview } = await subscribed(null, { unitAmountDecimal: '0.000333333333', base: false });
      await send('3000000');
      // 3 000 000 × 0.000333333333 = 999.999999 → 1000 (a float sum would drift; BigInt does not)
      expect((await preview()).lines.data[0].amount).toBe(1000);
      const half = await subscribed(null, { unitAmountDecimal: '0.125', base: false });
      await half.send('4');
      expect((await half.preview()).total).toBe(1); // 0.5 rounds up
    });

    it('charges a graduated first tier flat fee even without usage', async () => {
      const { preview, send } = await subscribed(
        [
          { up_to: 10, flat_amount: 500, unit_amount: 0 },
          { up_to: 'inf', unit_amount_decimal: decimal('2.5'), flat_amount: 50 },
        ],
        { base: false },
      );
      expect((await preview()).total).toBe(500);
      await send('13');
      expect((await preview()).total).toBe(500 + 50 + 8); // 3 × 2.5 = 7.5 → with the flats 557.5 → 558
    });
  });

  describe('checkout', () => {
    it('creates an open session with an emulator URL; completing it creates the subscription', async () => {
      const customer = await stripe.customers.create({ email: 'buyer@example.com' });
      const product = await stripe.products.create({ name: 'Pro' });
      const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 4900, recurring: { interval: 'month' } });
      const session = await stripe.checkout.sessions.create({
        mode: 'subscription',
        customer: customer.id,
        line_items: [{ price: price.id, quantity: 1 }],
        success_url: 'https://portal.example/success',
        cancel_url: 'https://portal.example/cancel',
        subscription_data: { metadata: { tollgate_tier: 'pro' } },
      });
      expect(session).toMatchObject({ object: 'checkout.session', status: 'open', mode: 'subscription', customer: customer.id, subscription: null });
      expect(session.id).toMatch(/^cs_test_/);
      expect(session.url).toBe(`${emulator.url}/checkout/${session.id}`);
      const subscription = await emulator.completeCheckout(session.id);
      expect(subscription).toMatchObject({ object: 'subscription', status: 'active', customer: customer.id, metadata: { tollgate_tier: 'pro' } });
      const completed = await stripe.checkout.sessions.retrieve(session.id);
      expect(completed).toMatchObject({ status: 'complete', payment_status: 'paid', subscription: subscription.id });
      expect((await stripe.subscriptions.retrieve(subscription.id)).items.data[0].price.id).toBe(price.id);
    });
  });

  describe('webhooks', () => {
    let receiver: Server;
    let received: Array<{ status: number; type?: string }> = [];

    beforeAll(async () => {
      receiver = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          try {
            const event = stripe.webhooks.constructEvent(Buffer.concat(chunks), String(req.headers['stripe-signature']), webhookSecret);
            received.push({ status: 200, type: event.type });
            res.writeHead(200).end('{"received":true}');
          } catch {
            received.push({ status: 400 });
            res.writeHead(400).end('bad signature');
          }
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    });

    afterAll(async () => {
      await new Promise((resolve) => receiver.close(resolve));
    });

    beforeEach(() => {
      received = [];
    });

    it('signs payloads so that stripe.webhooks.constructEvent verifies them (and rejects tampering)', () => {
      const payload = JSON.stringify({ id: 'evt_1', object: 'event', type: 'invoice.paid', data: { object: { id: 'in_1' } } });
      const header = emulator.signWebhook(payload);
      expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      expect(stripe.webhooks.constructEvent(payload, header, webhookSecret).type).toBe('invoice.paid');
      expect(() => stripe.webhooks.constructEvent(payload.replace('in_1', 'in_2'), header, webhookSecret)).toThrow(Stripe.errors.StripeSignatureVerificationError);
      expect(() => stripe.webhooks.constructEvent(payload, header, 'whsec_other')).toThrow(Stripe.errors.StripeSignatureVerificationError);
      const stale = emulator.signWebhook(payload, Math.floor(Date.now() / 1000) - 3600);
      expect(() => stripe.webhooks.constructEvent(payload, stale, webhookSecret)).toThrow(/tolerance/);
    });

    it('posts signed Stripe events', async () => {
      const { port } = receiver.address() as AddressInfo;
      const answer = await emulator.postWebhook(`http://127.0.0.1:${port}/webhooks/stripe`, {
        type: 'customer.subscription.updated',
        data: { object: { id: 'sub_1', object: 'subscription', status: 'active' } },
      });
      expect(answer.status).toBe(200);
      expect(received).toEqual([{ status: 200, type: 'customer.subscription.updated' }]);
      expect(answer.event).toMatchObject({ object: 'event', api_version: '2026-10-28.endive', livemode: false });
      expect(answer.event.id).toMatch(/^evt_/);
    });
  });

  describe('faults', () => {
    it('500: refuses without applying', async () => {
      const { send } = await meteredSetup();
      emulator.faults.error500Rate = 1;
      emulator.faults.onlyPaths = /\/meter_events$/;
      const identifier = unique('push');
      const error = await errorOf(send('5', { identifier }));
      expect(error).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(error.statusCode).toBe(500);
      expect(error.type).toBe('StripeAPIError');
      expect(emulator.appliedIdentifierCounts().has(identifier)).toBe(false);
      await expect(stripe.customers.create({})).resolves.toMatchObject({ object: 'customer' }); // other paths unaffected
      emulator.faults = noFaults();
      await send('5', { identifier }); // the identifier was never used
      expect(emulator.appliedIdentifierCounts().get(identifier)).toBe(1);
    });

    it('reset after apply: the SDK call fails, yet the event was applied (once, despite the SDK retrying)', async () => {
      const { customer, send } = await meteredSetup();
      const identifier = unique('push');
      emulator.faults.resetAfterApplyRate = 1;
      const error = await errorOf(send('8', { identifier }, { idempotencyKey: identifier }));
      expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
      expect(emulator.appliedIdentifierCounts().get(identifier)).toBe(1);
      // The SDK retries a reset connection once, even with maxNetworkRetries 0: that retry was a replay.
      expect(emulator.requests.filter((request) => request.idempotencyKey === identifier).map((request) => [request.status, request.replayed])).toEqual([
        [0, false],
        [0, true],
      ]);
      emulator.faults = noFaults();
      const replay = await send('8', { identifier }, { idempotencyKey: identifier });
      expect(replay.lastResponse.headers['idempotent-replayed']).toBe('true');
      const otherKey = await errorOf(send('8', { identifier }));
      expect(otherKey.code).toBe('resource_already_exists');
      expect(emulator.appliedIdentifierCounts().get(identifier)).toBe(1);
      expect(emulator.meterEvents({ customer: customer.id })).toHaveLength(1);
    });

    it('429 with Stripe-Should-Retry: true is retried by the SDK when it may retry', async () => {
      const retrying = client({ maxNetworkRetries: 1 });
      const before = emulator.requests.length;
      emulator.faults.rateLimitBurst = { remaining: 1, shouldRetryHeader: true };
      const customer = await retrying.customers.create({ name: 'patient' });
      expect(customer.object).toBe('customer');
      expect(emulator.requests.slice(before).map((request) => request.status)).toEqual([429, 200]);
    });

    it('429 without Stripe-Should-Retry (or with false) is not retried: StripeRateLimitError', async () => {
      const retrying = client({ maxNetworkRetries: 2 });
      for (const shouldRetryHeader of [null, false]) {
        const before = emulator.requests.length;
        emulator.faults.rateLimitBurst = { remaining: 2, shouldRetryHeader };
        const error = await errorOf(retrying.customers.create({ name: 'refused' }));
        expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
        expect(error.statusCode).toBe(429);
        expect(error.headers['stripe-should-retry']).toBe(shouldRetryHeader === null ? undefined : 'false');
        expect(emulator.requests.slice(before).map((request) => request.status)).toEqual([429]);
        expect(emulator.faults.rateLimitBurst.remaining).toBe(1);
      }
    });

    it('latency delays answers', async () => {
      emulator.faults.latencyMs = 300;
      const started = Date.now();
      await stripe.customers.create({});
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      emulator.faults.onlyPaths = /\/meter_events$/;
      const unaffected = Date.now();
      await stripe.customers.create({});
      expect(Date.now() - unaffected).toBeLessThan(250);
    });
  });
});
