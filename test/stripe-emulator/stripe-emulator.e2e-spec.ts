import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { noFaults, StripeEmulator } from './stripe-emulator.js';

/** An HTTP receiver that records what it is sent (webhooks, thin events) and answers `status()`. */
async function startReceiver(status: () => number = () => 200) {
  const received: Array<{ body: string; headers: IncomingHttpHeaders }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      res.writeHead(status()).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Meter events count after Stripe processed them: this many emulator seconds (the emulator's default). */
const LAG = 60;

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

  /** Lets Stripe process what was sent: moves the (frozen) clock past the processing lag. */
  async function processed() {
    await emulator.advanceBy(LAG);
  }

  describe('authentication and errors', () => {
    it('refuses requests without a test secret key: 401 authentication_error', async () => {
      const error = await errorOf(client({}, 'sk_live_not_accepted').customers.create({}));
      expect(error).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
      expect([error.statusCode, error.rawType, error.code]).toEqual([401, 'authentication_error', 'api_key_invalid']);
    });

    it('accepts only the configured keys, and refuses an expired one', async () => {
      const strict = await StripeEmulator.start({ apiKeys: ['sk_test_good', 'sk_test_rolled'] });
      try {
        const at = (key: string) => new Stripe(key, { host: '127.0.0.1', port: strict.port, protocol: 'http', maxNetworkRetries: 0 });
        await expect(at('sk_test_good').customers.create({})).resolves.toMatchObject({ object: 'customer' });
        expect((await errorOf(at('sk_test_unknown').customers.create({}))).statusCode).toBe(401);
        strict.expireKey('sk_test_rolled');
        const expired = await errorOf(at('sk_test_rolled').customers.create({}));
        expect(expired).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
        expect([expired.code, expired.message]).toEqual(['api_key_expired', expect.stringMatching(/^Expired API Key provided/)]);
      } finally {
        await strict.stop();
      }
    });

    it('a 401 window: every request answers authentication_error until it closes, and nothing is applied', async () => {
      const retrying = client({ maxNetworkRetries: 2 });
      const before = emulator.requests.length;
      emulator.unauthorizedFor(60_000);
      const refused = await errorOf(retrying.customers.create({ email: 'window@example.com' }));
      expect(refused).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
      expect(refused.rawType).toBe('authentication_error');
      // The SDK does not retry a 401; nothing was created.
      expect(emulator.requests.slice(before).map((request) => request.status)).toEqual([401]);
      expect((await errorOf(stripe.customers.list({ email: 'window@example.com' }))).statusCode).toBe(401);
      emulator.faults.unauthorizedUntilMs = 0; // the window closes
      expect((await stripe.customers.list({ email: 'window@example.com' })).data).toHaveLength(0);
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

    it('prices.list: at most 10 lookup_keys, tiers only with expand data.tiers, integers as numbers, archived prices unless active is given', async () => {
      const { meter } = await meteredSetup();
      const product = await stripe.products.create({ name: 'Listed' });
      const keys = Array.from({ length: 11 }, (_, i) => unique(`key${i}`));
      const tiered = await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
        billing_scheme: 'tiered',
        tiers_mode: 'volume',
        tiers: [
          { up_to: 100, unit_amount: 3 },
          { up_to: 'inf', unit_amount: 2, flat_amount: 50 },
        ],
        lookup_key: keys[0],
      });
      const tooMany = await errorOf(stripe.prices.list({ lookup_keys: keys }));
      expect(tooMany).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect([tooMany.statusCode, tooMany.param]).toEqual([400, 'lookup_keys']);
      const plain = await stripe.prices.list({ lookup_keys: keys.slice(0, 10) });
      expect(plain.data.map((price) => price.id)).toEqual([tiered.id]);
      expect(plain.data[0].tiers).toBeUndefined();
      const expanded = (await stripe.prices.list({ lookup_keys: [keys[0]], expand: ['data.tiers'] })).data[0];
      expect(expanded.tiers?.map((tier) => [tier.up_to, tier.unit_amount, tier.flat_amount])).toEqual([
        [100, 3, null],
        [null, 2, 50],
      ]);
      expect([typeof expanded.created, typeof expanded.tiers?.[0].up_to, typeof expanded.tiers?.[1].flat_amount]).toEqual(['number', 'number', 'number']);
      await stripe.prices.update(tiered.id, { active: false });
      expect((await stripe.prices.list({ lookup_keys: [keys[0]] })).data.map((price) => price.active)).toEqual([false]);
      expect((await stripe.prices.list({ lookup_keys: [keys[0]], active: true })).data).toHaveLength(0);
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
      // A flat amount is whole minor units, even as flat_amount_decimal.
      const subCent = await errorOf(
        stripe.prices.create({
          product: product.id,
          currency: 'usd',
          recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
          billing_scheme: 'tiered',
          tiers_mode: 'volume',
          tiers: [{ up_to: 10, unit_amount: 1, flat_amount_decimal: decimal('0.5') }, { up_to: 'inf', unit_amount: 1 }],
        }),
      );
      expect([subCent.type, subCent.param]).toEqual(['StripeInvalidRequestError', 'tiers[0][flat_amount_decimal]']);
      const wholeCents = await stripe.prices.create({
        product: product.id,
        currency: 'usd',
        recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
        billing_scheme: 'tiered',
        tiers_mode: 'volume',
        tiers: [{ up_to: 10, unit_amount: 1, flat_amount_decimal: decimal('50') }, { up_to: 'inf', unit_amount: 1 }],
        expand: ['tiers'],
      });
      expect(wholeCents.tiers?.[0].flat_amount).toBe(50);
    });
  });

  describe('meter events', () => {
    it('dedupes identifiers over a rolling 24 h: the second event is refused and counted once', async () => {
      const { customer, meter, send } = await meteredSetup();
      emulator.setClock(T0);
      const identifier = unique('push');
      const first = await send('12', { identifier });
      expect(first).toMatchObject({ object: 'billing.meter_event', identifier, event_name: meter.event_name, timestamp: T0, payload: { value: '12' } });
      // Stripe's answer to a duplicate: a plain invalid_request_error, no code, not to be retried.
      const before = emulator.requests.length;
      const again = await errorOf(client({ maxNetworkRetries: 2 }).billing.meterEvents.create({ event_name: meter.event_name, payload: { stripe_customer_id: customer.id, value: '12' }, identifier }));
      expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect([again.statusCode, again.code, again.message]).toEqual([400, undefined, `An event already exists with identifier ${identifier}.`]);
      expect(again.headers['stripe-should-retry']).toBe('false');
      expect(emulator.requests.length - before).toBe(1); // the SDK did not retry it
      expect(emulator.appliedIdentifierCounts().get(identifier)).toBe(1);
      expect(emulator.meterTotal(meter.id, customer.id, T0 - 60, T0 + 60)).toBe(12);
      await emulator.advanceTo(T0 + 86_400); // a day later the identifier may be used again
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

    it('reads form-encoded string values as whole numbers (negative too), refusing only malformed calls at the door', async () => {
      const { customer, meter, send } = await meteredSetup();
      emulator.setClock(T0);
      await send('100');
      await send('-30'); // a correction
      await processed();
      expect(emulator.meterEvents({ customer: customer.id }).map((event) => [event.value, event.status])).toEqual([
        [100, 'valid'],
        [-30, 'valid'],
      ]);
      expect(emulator.meterTotal(meter.id, customer.id, T0, T0 + 1)).toBe(70);
      const noPayload = await errorOf(stripe.billing.meterEvents.create({ event_name: meter.event_name } as Stripe.Billing.MeterEventCreateParams));
      expect([noPayload.statusCode, noPayload.param]).toEqual([400, 'payload']);
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
      await processed();
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
      await processed();
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
      await processed();
      const adjustment = await stripe.billing.meterEventAdjustments.create({ event_name: meter.event_name, type: 'cancel', cancel: { identifier: mistaken.identifier } });
      expect(adjustment).toMatchObject({ object: 'billing.meter_event_adjustment', type: 'cancel', status: 'pending', cancel: { identifier: mistaken.identifier } });
      expect(emulator.meterTotal(meter.id, customer.id, T0, T0 + 1)).toBe(10);
      // The cancellation is processed asynchronously too: summaries still count the event for a while.
      const summed = async () => (await stripe.billing.meters.listEventSummaries(meter.id, { customer: customer.id, start_time: T0, end_time: T0 + 60 })).data[0].aggregated_value;
      expect(await summed()).toBe(109);
      await processed();
      expect(emulator.meterEvents({ customer: customer.id }).find((event) => event.identifier === mistaken.identifier)?.cancelled).toBe(true);
      expect(await summed()).toBe(10);
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

    it('replays a request whose execution began even when it failed; a request refused for its parameters is not saved', async () => {
      const product = await stripe.products.create({ name: 'Idem' });
      const lookupKey = unique('idem_lookup');
      const holder = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 100, lookup_key: lookupKey });
      const key = unique('idem');
      const create = () => stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 200, lookup_key: lookupKey }, { idempotencyKey: key });
      const first = await errorOf(create());
      expect([first.statusCode, first.param]).toEqual([400, 'lookup_key']);
      await stripe.prices.update(holder.id, { lookup_key: '' }); // the conflict is gone…
      const replay = await errorOf(create()); // …but the key replays the saved failure
      expect([replay.statusCode, replay.message, replay.headers['idempotent-replayed']]).toEqual([400, first.message, 'true']);
      await expect(stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 200, lookup_key: lookupKey })).resolves.toMatchObject({ lookup_key: lookupKey });

      const malformedKey = unique('idem');
      const malformed = await errorOf(stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: -5 } as Stripe.PriceCreateParams, { idempotencyKey: malformedKey }));
      expect([malformed.statusCode, malformed.param]).toEqual([400, 'unit_amount']);
      // Nothing was saved under that key: the corrected request runs (no idempotency_error).
      await expect(stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 5 }, { idempotencyKey: malformedKey })).resolves.toMatchObject({ unit_amount: 5 });
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
      await emulator.advanceTo(T0 + 86_400);
      expect((await stripe.customers.create({ name: 'x' }, { idempotencyKey: key })).id).not.toBe(customer.id);
    });
  });

  describe('subscriptions', () => {
    async function catalog() {
      const { customer, meter, send } = await meteredSetup();
      await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: 'pm_card_visa' } });
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

    it('classic billing mode refuses mixed intervals; flexible (the default) keeps a period per item', async () => {
      emulator.setClock(T0);
      const { customer, product, base, usage } = await catalog();
      const yearly = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 100, recurring: { interval: 'year' } });
      const classic = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: base.id }], billing_mode: { type: 'classic' } });
      expect(classic.billing_mode.type).toBe('classic');
      const mixed = await errorOf(stripe.subscriptions.update(classic.id, { items: [{ price: yearly.id }] }));
      expect([mixed.statusCode, mixed.param]).toEqual([400, 'items']);
      const flexible = await stripe.subscriptions.create({ customer: customer.id, items: [{ price: yearly.id }, { price: usage.id }] });
      expect(flexible.billing_mode.type).toBe('flexible');
      expect(flexible.items.data.map((item) => [item.current_period_start, item.current_period_end])).toEqual([
        [T0, Date.UTC(2027, 0, 31, 12) / 1000],
        [T0, Date.UTC(2026, 1, 28, 12) / 1000],
      ]);
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
      await stripe.customers.update(customer.id, { invoice_settings: { default_payment_method: 'pm_card_visa' } });
      const subscription = await stripe.subscriptions.create({ customer: customer.id, items });
      // Usage shows on an upcoming invoice once Stripe processed it.
      const preview = async () => {
        await processed();
        return stripe.invoices.createPreview({ customer: customer.id, subscription: subscription.id });
      };
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
      expect(otherKey.message).toBe(`An event already exists with identifier ${identifier}.`);
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

/**
 * What Stripe does by itself, over time, on a test clock: meter events processed (and refused) later,
 * renewals, draft invoices finalized after the grace period, payments, retries, expiries, deliveries.
 * A fresh emulator per test, so each test's clock and deliveries are its own.
 */
describe('Stripe emulator, a subscription’s life on a test clock', () => {
  let emulator: StripeEmulator;
  let stripe: Stripe;
  let webhooks: Awaited<ReturnType<typeof startReceiver>>;
  let destination: Awaited<ReturnType<typeof startReceiver>>;
  let webhookSecret: string;
  let destinationSecret: string;
  /** 2026-01-31 12:00:00 UTC, and the period ends that follow from it. */
  const T0 = Date.UTC(2026, 0, 31, 12) / 1000;
  const FEB28 = Date.UTC(2026, 1, 28, 12) / 1000;
  const MAR31 = Date.UTC(2026, 2, 31, 12) / 1000;
  const APR30 = Date.UTC(2026, 3, 30, 12) / 1000;
  const HOUR = 3600;
  const DAY = 86_400;
  const errorOf = async (promise: Promise<unknown>): Promise<any> => {
    try {
      await promise;
    } catch (error) {
      return error;
    }
    throw new Error('expected the call to fail');
  };

  beforeAll(async () => {
    webhooks = await startReceiver();
    destination = await startReceiver();
  });

  afterAll(async () => {
    await webhooks.close();
    await destination.close();
  });

  beforeEach(async () => {
    emulator = await StripeEmulator.start();
    emulator.setClock(T0);
    stripe = new Stripe('sk_test_clock', { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0 });
    webhookSecret = emulator.addWebhookEndpoint(webhooks.url);
    destinationSecret = emulator.addEventDestination(destination.url);
    webhooks.received.length = 0;
    destination.received.length = 0;
  });

  afterEach(async () => {
    await emulator.stop();
  });

  /** The snapshot events delivered so far, verified with the endpoint's secret. */
  const delivered = () => webhooks.received.map(({ body, headers }) => stripe.webhooks.constructEvent(body, String(headers['stripe-signature']), webhookSecret));
  const deliveredTypes = (filter: (event: Stripe.Event) => boolean = () => true) => delivered().filter(filter).map((event) => event.type);
  /** The thin events delivered so far, verified and parsed the way stripe-node 23 does. */
  const notifications = () => destination.received.map(({ body, headers }) => stripe.parseEventNotification(body, String(headers['stripe-signature']), destinationSecret));

  /** A meter, a product, a $49 monthly base price and a metered price (tiered or per unit). */
  async function catalog(usagePrice: Partial<Stripe.PriceCreateParams> = { billing_scheme: 'tiered', tiers_mode: 'graduated', tiers: [{ up_to: 1000, unit_amount: 5 }, { up_to: 5000, unit_amount: 3, flat_amount: 200 }, { up_to: 'inf', unit_amount: 1, flat_amount: 500 }] }) {
    const meter = await stripe.billing.meters.create({ display_name: 'API calls', event_name: 'api_calls', default_aggregation: { formula: 'sum' } });
    const product = await stripe.products.create({ name: 'Pro' });
    const base = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 4900, recurring: { interval: 'month' } });
    const usage = await stripe.prices.create({ product: product.id, currency: 'usd', recurring: { interval: 'month', usage_type: 'metered', meter: meter.id }, ...usagePrice } as Stripe.PriceCreateParams);
    return { meter, product, base, usage };
  }

  async function customer(paymentMethod: string | null = 'pm_card_visa') {
    return stripe.customers.create({ email: 'payer@example.com', ...(paymentMethod && { payment_method: paymentMethod }) });
  }

  const usageEvent = (customerId: string, value: number | string, extra: { identifier?: string; timestamp?: number } = {}) =>
    stripe.billing.meterEvents.create({ event_name: 'api_calls', payload: { stripe_customer_id: customerId, value: String(value) }, ...extra });

  describe('meter events', () => {
    it('accepts events for an unknown customer, a bad value or no meter (200), then reports them as thin events', async () => {
      const { meter } = await catalog();
      const ada = await customer();
      await expect(usageEvent('cus_does_not_exist', 1, { identifier: 'bad-customer-1' })).resolves.toMatchObject({ object: 'billing.meter_event', identifier: 'bad-customer-1' });
      await expect(usageEvent(ada.id, '1.5', { identifier: 'bad-value-1' })).resolves.toMatchObject({ identifier: 'bad-value-1' });
      await expect(stripe.billing.meterEvents.create({ event_name: 'no_such_meter', payload: { stripe_customer_id: ada.id, value: '1' }, identifier: 'no-meter-1' })).resolves.toMatchObject({
        identifier: 'no-meter-1',
      });
      await usageEvent(ada.id, 7, { identifier: 'good-1' });
      await emulator.flush();
      expect(destination.received).toHaveLength(0); // nothing is known yet: processing is asynchronous

      await emulator.advanceBy(LAG);
      const [report, noMeter] = [...notifications()].sort((a, b) => a.type.localeCompare(b.type));
      expect(report).toMatchObject({ object: 'v2.core.event', type: 'v1.billing.meter.error_report_triggered', livemode: false });
      expect((report as Stripe.Events.V1BillingMeterErrorReportTriggeredEventNotification).related_object).toEqual({ id: meter.id, type: 'billing.meter', url: `/v1/billing/meters/${meter.id}` });
      // The notification is thin: the details come from GET /v2/core/events/:id.
      expect((report as unknown as { data?: unknown }).data).toBeUndefined();
      const full = (await report.fetchEvent()) as Stripe.Events.V1BillingMeterErrorReportTriggeredEvent;
      expect(full.data.reason.error_count).toBe(2);
      expect(full.data.reason.error_types.map((type) => [type.code, type.error_count, type.sample_errors[0].request.identifier]).sort()).toEqual([
        ['meter_event_customer_not_found', 1, 'bad-customer-1'],
        ['meter_event_invalid_value', 1, 'bad-value-1'],
      ]);
      expect(((await (report as Stripe.Events.V1BillingMeterErrorReportTriggeredEventNotification).fetchRelatedObject()) as Stripe.Billing.Meter).id).toBe(meter.id);
      expect(noMeter.type).toBe('v1.billing.meter.no_meter_found');
      const missing = (await noMeter.fetchEvent()) as Stripe.Events.V1BillingMeterNoMeterFoundEvent;
      expect(missing.data.reason.error_types.map((type) => [type.code, type.sample_errors[0].request.identifier])).toEqual([['no_meter', 'no-meter-1']]);
      // Only the good event counts.
      expect(emulator.meterTotal(meter.id, ada.id, T0 - 60, T0 + 60)).toBe(7);
      expect(emulator.meterEvents().map((event) => [event.identifier, event.status, event.errorCode])).toEqual([
        ['bad-customer-1', 'invalid', 'meter_event_customer_not_found'],
        ['bad-value-1', 'invalid', 'meter_event_invalid_value'],
        ['no-meter-1', 'invalid', 'no_meter'],
        ['good-1', 'valid', null],
      ]);
    });

    it('an event for an archived meter is accepted, then reported (archived_meter) and not counted', async () => {
      const { meter } = await catalog();
      const ada = await customer();
      await stripe.billing.meters.deactivate(meter.id);
      await usageEvent(ada.id, 5, { identifier: 'archived-1' });
      await emulator.advanceBy(LAG);
      const [report] = notifications();
      expect(report.type).toBe('v1.billing.meter.error_report_triggered');
      const full = (await report.fetchEvent()) as Stripe.Events.V1BillingMeterErrorReportTriggeredEvent;
      expect(full.data.reason.error_types.map((type) => type.code)).toEqual(['archived_meter']);
      expect(emulator.meterTotal(meter.id, ada.id, T0 - 60, T0 + 60)).toBe(0);
    });

    it('summaries and upcoming invoices lag behind the events by the processing delay', async () => {
      const { meter, usage } = await catalog({ unit_amount: 2 });
      const ada = await customer();
      const subscription = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: usage.id }] });
      await usageEvent(ada.id, 40, { timestamp: T0 });
      const summary = async () => (await stripe.billing.meters.listEventSummaries(meter.id, { customer: ada.id, start_time: T0, end_time: T0 + 60 })).data[0].aggregated_value;
      const upcoming = async () => (await stripe.invoices.createPreview({ subscription: subscription.id })).total;
      expect([await summary(), await upcoming()]).toEqual([0, 0]);
      await emulator.advanceBy(LAG - 1);
      expect([await summary(), await upcoming()]).toEqual([0, 0]);
      await emulator.advanceBy(1);
      expect([await summary(), await upcoming()]).toEqual([40, 80]);
      expect(emulator.meterTotal(meter.id, ada.id, T0, T0 + 60)).toBe(40);
    });
  });

  describe('renewals and invoices', () => {
    it('steps monthly periods from a Jan 31 anchor: Feb 28, Mar 31, Apr 30, one invoice per period', async () => {
      const { base } = await catalog();
      const ada = await customer();
      const subscription = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }] });
      const periods = async () => (await stripe.subscriptions.retrieve(subscription.id)).items.data.map((item) => [item.current_period_start, item.current_period_end])[0];
      expect(await periods()).toEqual([T0, FEB28]);
      await emulator.advanceTo(FEB28);
      expect(await periods()).toEqual([FEB28, MAR31]);
      await emulator.advanceTo(MAR31);
      expect(await periods()).toEqual([MAR31, APR30]);
      const invoices = (await stripe.invoices.list({ subscription: subscription.id })).data;
      expect(invoices.map((invoice) => [invoice.billing_reason, invoice.lines.data[0].period.start, invoice.lines.data[0].period.end])).toEqual([
        ['subscription_cycle', MAR31, APR30],
        ['subscription_cycle', FEB28, MAR31],
        ['subscription_create', T0, FEB28],
      ]);
    });

    it('a month: renewal → draft invoice from the meter and prices → finalized after the 1 h grace → paid, with late usage only while a draft', async () => {
      const { usage, base } = await catalog();
      const ada = await customer();
      const subscription = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }, { price: usage.id }] });
      expect(subscription.status).toBe('active');
      const [first] = (await stripe.invoices.list({ subscription: subscription.id })).data;
      expect([first.billing_reason, first.status, first.amount_paid]).toEqual(['subscription_create', 'paid', 4900]);

      await emulator.advanceTo(T0 + DAY);
      await usageEvent(ada.id, 2500);
      await emulator.advanceTo(T0 + 10 * DAY);
      await usageEvent(ada.id, 3700);
      webhooks.received.length = 0;

      await emulator.advanceTo(FEB28);
      const [draft] = (await stripe.invoices.list({ subscription: subscription.id, status: 'draft' })).data;
      // Graduated, 6 200 units: 1 000 × 5 + (4 000 × 3 + 200) + (1 200 × 1 + 500) = 5 000 + 12 200 + 1 700 = 18 900.
      expect(draft).toMatchObject({ billing_reason: 'subscription_cycle', automatically_finalizes_at: FEB28 + HOUR, period_start: T0, period_end: FEB28 });
      expect(draft.lines.data.map((line) => [line.quantity, line.amount, line.period.start, line.period.end])).toEqual([
        [1, 4900, FEB28, MAR31],
        [6200, 18_900, T0, FEB28],
      ]);
      expect(deliveredTypes()).toEqual(['customer.subscription.updated', 'invoice.created']);
      expect(delivered()[0]).toMatchObject({ data: { previous_attributes: { current_period_start: T0, current_period_end: FEB28 } } });

      // Late usage for the ended period, within the grace: the invoice picks it up when it finalizes.
      await emulator.advanceTo(FEB28 + 10 * 60);
      await usageEvent(ada.id, 800, { timestamp: FEB28 - 120 });
      await emulator.advanceTo(FEB28 + HOUR - 1);
      expect((await stripe.invoices.retrieve(draft.id)).status).toBe('draft');
      await emulator.advanceTo(FEB28 + HOUR);
      const paid = await stripe.invoices.retrieve(draft.id);
      // 7 000 units: 5 000 + 12 200 + (2 000 × 1 + 500) = 19 700.
      expect(paid).toMatchObject({ status: 'paid', amount_due: 19_700 + 4900, amount_paid: 19_700 + 4900, status_transitions: { finalized_at: FEB28 + HOUR } });
      expect(paid.lines.data[1].quantity).toBe(7000);
      expect(deliveredTypes((event) => event.type.startsWith('invoice.'))).toEqual(['invoice.created', 'invoice.finalized', 'invoice.paid', 'invoice.payment_succeeded']);

      // Usage for the ended period reported after finalization lands on no invoice.
      await usageEvent(ada.id, 400, { timestamp: FEB28 - 60 });
      await emulator.advanceTo(MAR31 + HOUR);
      expect((await stripe.invoices.retrieve(draft.id)).amount_due).toBe(19_700 + 4900);
      const [march] = (await stripe.invoices.list({ subscription: subscription.id, limit: 1 })).data;
      expect(march.lines.data.map((line) => [line.quantity, line.amount, line.period.start])).toEqual([
        [1, 4900, MAR31],
        [0, 0, FEB28],
      ]);
      expect(emulator.meterTotal(usage.recurring!.meter!, ada.id, T0, FEB28)).toBe(7400);
    });

    it('prices volume tiers on the whole quantity: 5 000 units in the second tier = 5 000 × 3 + 200', async () => {
      const { usage } = await catalog({ billing_scheme: 'tiered', tiers_mode: 'volume', tiers: [{ up_to: 1000, unit_amount: 5 }, { up_to: 5000, unit_amount: 3, flat_amount: 200 }, { up_to: 'inf', unit_amount: 1, flat_amount: 500 }] });
      const ada = await customer();
      const subscription = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: usage.id }] });
      await usageEvent(ada.id, 5000);
      await emulator.advanceTo(FEB28 + HOUR);
      const [invoice] = (await stripe.invoices.list({ subscription: subscription.id, limit: 1 })).data;
      expect([invoice.status, invoice.total, invoice.lines.data[0].quantity]).toEqual(['paid', 15_200, 5000]);
      await usageEvent(ada.id, 5001);
      await emulator.advanceTo(MAR31 + HOUR);
      // 5 001 units: all in the last tier, 5 001 × 1 + 500 (cheaper than 5 000: volume pricing can decrease).
      expect((await stripe.invoices.list({ subscription: subscription.id, limit: 1 })).data[0].total).toBe(5501);
    });

    it('a failed renewal payment: past_due, retried on schedule, active again once paid; exhausted retries cancel', async () => {
      const { base } = await catalog();
      const ada = await customer();
      const subscription = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }] });
      emulator.setPaymentOutcome(ada.id, 'fails');
      await emulator.advanceTo(FEB28 + HOUR);
      const [invoice] = (await stripe.invoices.list({ subscription: subscription.id, limit: 1 })).data;
      expect([invoice.status, invoice.attempt_count, invoice.next_payment_attempt]).toEqual(['open', 1, FEB28 + HOUR + 3 * DAY]);
      expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('past_due');
      const failed = delivered().filter((event) => event.type === 'invoice.payment_failed' || event.type === 'customer.subscription.updated').slice(-2);
      expect(failed.map((event) => [event.type, (event.data.previous_attributes as { status?: string } | undefined)?.status])).toEqual([
        ['invoice.payment_failed', undefined],
        ['customer.subscription.updated', 'active'],
      ]);
      emulator.setPaymentOutcome(ada.id, 'succeeds');
      await emulator.advanceTo(FEB28 + HOUR + 3 * DAY);
      expect((await stripe.invoices.retrieve(invoice.id)).status).toBe('paid');
      expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');

      emulator.setPaymentOutcome(ada.id, 'fails');
      await emulator.advanceTo(MAR31 + HOUR + 15 * DAY); // first attempt + 3, 5 and 7 days
      const [march] = (await stripe.invoices.list({ subscription: subscription.id, limit: 1 })).data;
      expect([march.status, march.attempt_count]).toEqual(['open', 4]);
      expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('canceled');
      expect(deliveredTypes()).toContain('customer.subscription.deleted');
    });
  });

  it('with the account set to mark subscriptions unpaid, exhausted retries leave it unpaid (and the invoice open)', async () => {
    const unpaid = await StripeEmulator.start({ afterRetriesExhausted: 'unpaid', paymentRetryDays: [1] });
    try {
      unpaid.setClock(T0);
      const sdk = new Stripe('sk_test_unpaid', { host: '127.0.0.1', port: unpaid.port, protocol: 'http', maxNetworkRetries: 0 });
      const product = await sdk.products.create({ name: 'Pro' });
      const base = await sdk.prices.create({ product: product.id, currency: 'usd', unit_amount: 4900, recurring: { interval: 'month' } });
      const payer = await sdk.customers.create({ payment_method: 'pm_card_visa' });
      const subscription = await sdk.subscriptions.create({ customer: payer.id, items: [{ price: base.id }] });
      unpaid.setPaymentOutcome(payer.id, 'fails');
      await unpaid.advanceTo(FEB28 + HOUR);
      expect((await sdk.subscriptions.retrieve(subscription.id)).status).toBe('past_due');
      await unpaid.advanceTo(FEB28 + HOUR + DAY);
      expect((await sdk.subscriptions.retrieve(subscription.id)).status).toBe('unpaid');
      expect((await sdk.invoices.list({ subscription: subscription.id, status: 'open' })).data.map((invoice) => invoice.attempt_count)).toEqual([2]);
      // Unpaid: the next invoices are still created, but no payment is attempted.
      unpaid.setPaymentOutcome(payer.id, 'succeeds');
      await unpaid.advanceTo(MAR31 + HOUR);
      const [march] = (await sdk.invoices.list({ subscription: subscription.id, limit: 1 })).data;
      expect([march.status, march.attempt_count, march.auto_advance]).toEqual(['open', 0, false]);
    } finally {
      await unpaid.stop();
    }
  });

  describe('creation and payment behaviour', () => {
    it('the default payment_behavior leaves a subscription incomplete when the first invoice cannot be paid; 23 h later it expires', async () => {
      const { base } = await catalog();
      const ada = await customer(null);
      const subscription = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }] });
      expect(subscription.status).toBe('incomplete');
      const invoice = await stripe.invoices.retrieve(subscription.latest_invoice as string);
      expect([invoice.status, invoice.amount_due, invoice.attempt_count]).toEqual(['open', 4900, 1]);
      // Only metadata may change meanwhile.
      expect((await errorOf(stripe.subscriptions.update(subscription.id, { items: [{ id: subscription.items.data[0].id, quantity: 2 }] }))).statusCode).toBe(400);
      await expect(stripe.subscriptions.update(subscription.id, { metadata: { note: 'waiting' } })).resolves.toMatchObject({ status: 'incomplete' });
      await emulator.advanceBy(23 * HOUR);
      expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('incomplete_expired');
      expect((await stripe.invoices.retrieve(invoice.id)).status).toBe('void');
      expect((await stripe.subscriptions.list({ customer: ada.id, status: 'ended' })).data.map((s) => s.id)).toEqual([subscription.id]);
    });

    it('default_incomplete: incomplete until the first invoice is paid (invoices.pay), then active', async () => {
      const { base } = await catalog();
      const ada = await customer('pm_card_visa');
      const subscription = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }], payment_behavior: 'default_incomplete', expand: ['latest_invoice'] });
      expect(subscription.status).toBe('incomplete');
      const invoice = subscription.latest_invoice as Stripe.Invoice;
      expect([invoice.status, invoice.attempt_count]).toEqual(['open', 0]); // no payment was attempted
      await expect(stripe.invoices.pay(invoice.id)).resolves.toMatchObject({ status: 'paid', amount_paid: 4900 });
      await emulator.flush();
      expect((await stripe.subscriptions.retrieve(subscription.id)).status).toBe('active');
      expect(delivered().find((event) => event.type === 'customer.subscription.updated')).toMatchObject({ data: { object: { status: 'active' }, previous_attributes: { status: 'incomplete' } } });
    });

    it('error_if_incomplete: a card that fails answers 402 and creates nothing; a metered-only subscription owes nothing and starts active', async () => {
      const { base, usage } = await catalog();
      const ada = await customer('pm_card_chargeCustomerFail');
      const declined = await errorOf(stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }], payment_behavior: 'error_if_incomplete' }));
      expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
      expect([declined.statusCode, declined.code]).toEqual([402, 'card_declined']);
      expect((await stripe.subscriptions.list({ customer: ada.id, status: 'all' })).data).toHaveLength(0);
      await expect(stripe.subscriptions.create({ customer: ada.id, items: [{ price: usage.id }] })).resolves.toMatchObject({ status: 'active' });
    });

    it('trialing until the trial ends, then active and invoiced; without a payment method and end_behavior pause, paused', async () => {
      const { base } = await catalog();
      const ada = await customer();
      const trial = await stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }], trial_period_days: 7 });
      expect([trial.status, trial.trial_end, trial.items.data[0].current_period_end]).toEqual(['trialing', T0 + 7 * DAY, T0 + 7 * DAY]);
      expect((await stripe.invoices.retrieve(trial.latest_invoice as string)).total).toBe(0);
      await emulator.advanceTo(T0 + 7 * DAY + HOUR);
      expect((await stripe.subscriptions.retrieve(trial.id)).status).toBe('active');
      const [invoice] = (await stripe.invoices.list({ subscription: trial.id, limit: 1 })).data;
      expect([invoice.status, invoice.total]).toEqual(['paid', 4900]);

      const bob = await customer(null);
      const paused = await stripe.subscriptions.create({ customer: bob.id, items: [{ price: base.id }], trial_period_days: 3, trial_settings: { end_behavior: { missing_payment_method: 'pause' } } });
      await emulator.advanceBy(3 * DAY);
      expect((await stripe.subscriptions.retrieve(paused.id)).status).toBe('paused');
    });

    it('flexible mode: removing a metered item mid-period invoices its usage so far; classic mode loses it', async () => {
      const { base, usage } = await catalog({ unit_amount: 2 });
      const run = async (mode: 'flexible' | 'classic') => {
        const payer = await customer();
        const subscription = await stripe.subscriptions.create({ customer: payer.id, items: [{ price: base.id }, { price: usage.id }], billing_mode: { type: mode } });
        await usageEvent(payer.id, 3000);
        return { payer, subscription };
      };
      const flexible = await run('flexible');
      const classic = await run('classic');
      await emulator.advanceTo(T0 + 10 * DAY);
      for (const { subscription } of [flexible, classic]) {
        const item = subscription.items.data.find((candidate) => candidate.price.id === usage.id)!;
        await stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, deleted: true }], proration_behavior: 'create_prorations' });
      }
      await emulator.advanceTo(FEB28 + HOUR);
      const lines = async (id: string) => (await stripe.invoices.list({ subscription: id, limit: 1 })).data[0].lines.data.map((line) => [line.quantity, line.amount]);
      expect(await lines(flexible.subscription.id)).toEqual([
        [1, 4900],
        [3000, 6000],
      ]);
      expect(await lines(classic.subscription.id)).toEqual([[1, 4900]]);
    });

    it('a price swap mid-period prorates over the period as counted from the anchor, and splits the metered usage at the change', async () => {
      const { base, usage } = await catalog({ unit_amount: 2 });
      const product = await stripe.products.create({ name: 'Scale' });
      const bigBase = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 19900, recurring: { interval: 'month' } });
      const bigUsage = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 1, recurring: { interval: 'month', usage_type: 'metered', meter: (await stripe.prices.retrieve(usage.id)).recurring!.meter! } });
      const payer = await customer();
      // The first period, Jan 31 → Feb 28, lasts 28 days (not the 31 from Jan 28, a month before its end).
      const subscription = await stripe.subscriptions.create({ customer: payer.id, items: [{ price: base.id }, { price: usage.id }] });
      await emulator.advanceTo(T0 + HOUR);
      await usageEvent(payer.id, 1000);
      await emulator.advanceTo(T0 + 7 * DAY); // processed
      await stripe.subscriptions.update(subscription.id, {
        items: [...subscription.items.data.map((item) => ({ id: item.id, deleted: true })), { price: bigBase.id }, { price: bigUsage.id }],
        proration_behavior: 'create_prorations',
      });
      await emulator.advanceBy(HOUR);
      await usageEvent(payer.id, 500);
      await emulator.advanceTo(FEB28 + HOUR);
      const [invoice] = (await stripe.invoices.list({ subscription: subscription.id, limit: 1 })).data;
      const byAmount = (lines: number[][]) => [...lines].sort((a, b) => a[1] - b[1]);
      expect(byAmount(invoice.lines.data.map((line) => [line.quantity!, line.amount]))).toEqual(
        byAmount([
          [1, -3675], // unused 21 of 28 days on the old base: −49.00 × 3/4
          [500, 500], // the new price bills only usage from the change on
          [1000, 2000], // the old price's usage up to the change
          [1, 14925], // remaining 21 of 28 days on the new base: 199.00 × 3/4
          [1, 19900], // the next period's new base, in advance
        ]),
      );
    });
  });

  describe('deliveries', () => {
    it('signs each webhook with its endpoint’s secret, retries a refused delivery an hour later', async () => {
      let answer = 500;
      const flaky = await startReceiver(() => answer);
      try {
        const endpoint = await stripe.webhookEndpoints.create({ url: flaky.url, enabled_events: ['invoice.paid'] });
        expect(endpoint.secret).toMatch(/^whsec_/);
        const { base } = await catalog();
        const ada = await customer();
        await stripe.subscriptions.create({ customer: ada.id, items: [{ price: base.id }] });
        await emulator.flush();
        const toFlaky = () => emulator.deliveries.filter((delivery) => delivery.url === flaky.url).map((delivery) => [delivery.type, delivery.attempt, delivery.status, delivery.at]);
        expect(toFlaky()).toEqual([['invoice.paid', 1, 500, T0]]);
        answer = 200;
        await emulator.advanceBy(HOUR);
        expect(toFlaky()).toEqual([
          ['invoice.paid', 1, 500, T0],
          ['invoice.paid', 2, 200, T0 + HOUR],
        ]);
        const [, retried] = flaky.received;
        expect(stripe.webhooks.constructEvent(retried.body, String(retried.headers['stripe-signature']), endpoint.secret!).type).toBe('invoice.paid');
        expect(() => stripe.webhooks.constructEvent(retried.body, String(retried.headers['stripe-signature']), webhookSecret)).toThrow(Stripe.errors.StripeSignatureVerificationError);
      } finally {
        await flaky.close();
      }
    });
  });
});
