import type Stripe from 'stripe';
import { parseTierCatalog } from '../config/tier-catalog.js';
import { idempotencyKeyFor, priceMatches, stripeTiers, wantedPrices } from './price-catalog.js';
import { meteredPrice } from './pricing.js';
import { loadStripe } from './stripe.client.js';

// stripeTiers uses the SDK a Stripe client loaded (stripe is an optional peer).
beforeAll(() => loadStripe());

const catalog = (price: string, overage: string) =>
  parseTierCatalog(`
tiers:
  free: { price: 0, included_calls: 10, rate_limit: 1/min, endpoints: [/a/*] }
  paid:
    price: ${price}
    included_calls: 1000/month
    rate_limit: 1/min
    endpoints: [/b/*]
    overage: ${overage}
`).tiers[1];
const METERS = new Map([['api_calls', 'mtr_1']]);
const VOLUME = '{ mode: volume, bands: [{ up_to: 10, unit_price: $0.01, flat_fee: 1 }, { up_to: inf, unit_price: $0.02 }] }';

/** The Stripe price these parameters create, as prices.list renders it with expand data.tiers. */
function asListed(params: Stripe.PriceCreateParams): Stripe.Price {
  return {
    id: 'price_x',
    product: params.product,
    currency: params.currency,
    unit_amount: params.unit_amount ?? null,
    unit_amount_decimal: params.unit_amount === undefined ? null : String(params.unit_amount),
    billing_scheme: params.billing_scheme ?? 'per_unit',
    tiers_mode: params.tiers_mode ?? null,
    recurring: params.recurring && { interval: params.recurring.interval, interval_count: 1, usage_type: params.recurring.usage_type, meter: params.recurring.meter ?? null },
    tiers: params.tiers?.map((tier) => ({
      up_to: tier.up_to === 'inf' ? null : tier.up_to,
      unit_amount: null,
      unit_amount_decimal: String(tier.unit_amount_decimal),
      flat_amount: tier.flat_amount ?? null,
      flat_amount_decimal: tier.flat_amount === undefined ? null : String(tier.flat_amount),
    })),
  } as unknown as Stripe.Price;
}

describe('price catalog', () => {
  it('gives the metered price the base price’s interval and Stripe’s tiers in cents', () => {
    const [base, metered] = wantedPrices(catalog('120/year', VOLUME), 'tollgate_paid', METERS);
    expect(base.params.recurring).toEqual({ interval: 'year', usage_type: 'licensed' });
    expect(metered.params).toMatchObject({ recurring: { interval: 'year', usage_type: 'metered', meter: 'mtr_1' }, tiers_mode: 'volume' });
    expect(metered.params.tiers?.map((tier) => [tier.up_to, String(tier.unit_amount_decimal), tier.flat_amount])).toEqual([
      [1000, '0', undefined],
      [1010, '1', 100],
      ['inf', '2', undefined],
    ]);
  });

  it('matches an identical price and notices a change of amount, tiers, mode, interval or currency', () => {
    const wanted = wantedPrices(catalog('49/month', VOLUME), 'tollgate_paid', METERS);
    const listed = wanted.map((entry) => asListed(entry.params));
    expect(wanted.map((entry, i) => priceMatches(listed[i], entry))).toEqual([true, true]);
    const changed = [
      catalog('50/month', VOLUME),
      catalog('49/year', VOLUME),
      catalog('49/month', VOLUME.replace('volume', 'graduated')),
      catalog('49/month', VOLUME.replace('flat_fee: 1', 'flat_fee: 2')),
      catalog('49/month', VOLUME.replace('up_to: 10', 'up_to: 11')),
      catalog('49/month', VOLUME.replace('$0.02', '0.02 eur/call')),
    ];
    for (const tier of changed) {
      const next = wantedPrices(tier, 'tollgate_paid', METERS);
      expect(next.some((entry, i) => !priceMatches(listed[i], entry))).toBe(true);
    }
  });

  it('refuses to compare a tiered price listed without its tiers', () => {
    const [, metered] = wantedPrices(catalog('49/month', VOLUME), 'tollgate_paid', METERS);
    expect(() => priceMatches({ ...asListed(metered.params), tiers: undefined } as Stripe.Price, metered)).toThrow(/expand data.tiers/);
  });

  it('derives idempotency keys from the parameters: same parameters, same key, in any order; any change, a new key', () => {
    const a = idempotencyKeyFor('price', 'k', { currency: 'usd', unit_amount: 100, metadata: { x: '1', y: '2' } });
    expect(idempotencyKeyFor('price', 'k', { metadata: { y: '2', x: '1' }, unit_amount: 100, currency: 'usd' })).toBe(a);
    expect(idempotencyKeyFor('price', 'k', { currency: 'usd', unit_amount: 101, metadata: { x: '1', y: '2' } })).not.toBe(a);
    const tiers = stripeTiers(meteredPrice(0, { mode: 'per_unit', currency: 'usd', unit: 'call', unitPrice: '0.002', bands: [] }));
    const other = stripeTiers(meteredPrice(0, { mode: 'per_unit', currency: 'usd', unit: 'call', unitPrice: '0.003', bands: [] }));
    expect(idempotencyKeyFor('price', 'k', { tiers })).not.toBe(idempotencyKeyFor('price', 'k', { tiers: other }));
    expect(a.length).toBeLessThanOrEqual(255);
  });
});
