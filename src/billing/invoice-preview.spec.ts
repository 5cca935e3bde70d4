import { parseTierCatalog } from '../config/tier-catalog.js';
import { effectiveLimits } from '../customers/effective-limits.js';
import { formatMinor, type PeriodSegment, periodInvoice, prorate } from './invoice-preview.js';

const catalog = parseTierCatalog(`
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
`);
const tier = (name: string) => catalog.tiers.find((candidate) => candidate.name === name)!;
const segment = (name: string, start: Date, usage: number): PeriodSegment => ({
  tier: tier(name),
  limits: effectiveLimits(tier(name), {}),
  priceOverride: undefined,
  start,
  usage: new Map([['api_calls', BigInt(usage)]]),
});

// A 30-day period: Oct 31 → Nov 30 (the anchor day 31 clamped to November's last day).
const period = { start: new Date('2026-10-31T10:00:00Z'), end: new Date('2026-11-30T10:00:00Z') };
const day = (n: number) => new Date(period.start.getTime() + n * 86_400_000);

describe('periodInvoice: the invoice Stripe makes when a period closes', () => {
  it('is the next base plus the overage when nothing changed (graduated bands, flat fee once reached)', () => {
    const invoice = periodInvoice({ period, segments: [segment('pro', period.start, 160_000)], renews: true });
    // 49.00 + 100 000 × 0.002 (50 001..150 000) + 10 000 × 0.0015 + 5 (150 001..) = 49 + 200 + 15 + 5
    expect(invoice.lines.map((line) => line.amount)).toEqual(['49.00', '220.00']);
    expect(invoice).toMatchObject({ total: '269.00', totalMinor: 26900, currency: 'usd' });
  });

  it('bills no base for the next period when the subscription ends with this one', () => {
    const invoice = periodInvoice({ period, segments: [segment('starter', period.start, 12_000)], renews: false });
    expect(invoice.lines.map((line) => line.amount)).toEqual(['6.00']);
    expect(invoice.totalMinor).toBe(600);
  });

  it('bills each tier’s own segment with fresh included units, and prorates both bases at the change', () => {
    // Starter for 10 of 30 days (30 000 calls), then pro (70 000 calls): Stripe bills 20 000 starter
    // overage calls, then pro starts over with its own 50 000 included.
    const invoice = periodInvoice({ period, segments: [segment('starter', period.start, 30_000), segment('pro', day(10), 70_000)], renews: true });
    expect(invoice.lines.map((line) => [line.meter, line.amount])).toEqual([
      [null, '49.00'], // next period's base, of the tier the period ends on
      ['api_calls', '60.00'], // 20 000 × 0.003 on starter
      ['api_calls', '40.00'], // 20 000 × 0.002 on pro
      [null, '-12.67'], // unused 20 of 30 days on starter: 19.00 × 2/3 = 12.666…
      [null, '32.67'], // remaining 20 of 30 days on pro: 49.00 × 2/3 = 32.666…
    ]);
    expect(invoice.totalMinor).toBe(4900 + 6000 + 4000 - 1267 + 3267);
    expect(invoice.lines[1].description).toContain('starter');
  });

  it('credits more than it debits on a downgrade (the total may be negative)', () => {
    const invoice = periodInvoice({ period, segments: [segment('pro', period.start, 0), segment('starter', day(1), 0)], renews: false });
    // 29 of 30 days: −49.00 × 29/30 = −47.366… → −47.37; +19.00 × 29/30 = 18.366… → 18.37
    expect(invoice.lines.map((line) => line.amount)).toEqual(['-47.37', '18.37']);
    expect(invoice).toMatchObject({ total: '-29.00', totalMinor: -2900 });
  });

  it('prorates nothing for a free tier, and rounds each line once (one call over: 0.003 → nothing)', () => {
    const invoice = periodInvoice({ period, segments: [segment('free', period.start, 500), segment('starter', day(15), 10_001)], renews: true });
    // Base 19.00 in advance; starter overage 1 × 0.003 rounds to 0.00; remaining 15 of 30 days on starter: 9.50.
    expect(invoice.lines.map((line) => line.amount)).toEqual(['19.00', '9.50']);
    expect(invoice.totalMinor).toBe(1900 + 950);
  });

  it('refuses a period without segments', () => {
    expect(() => periodInvoice({ period, segments: [], renews: true })).toThrow(RangeError);
  });
});

describe('prorate', () => {
  it('rounds half away from zero, exactly, for either sign', () => {
    expect(prorate(1900n, 1n, 2n)).toBe(950n);
    expect(prorate(1n, 1n, 2n)).toBe(1n);
    expect(prorate(-1n, 1n, 2n)).toBe(-1n);
    expect(prorate(4900n, 1n, 3n)).toBe(1633n);
    expect(prorate(4900n, 2n, 3n)).toBe(3267n);
  });

  it('never prorates beyond the whole period or below nothing', () => {
    expect(prorate(4900n, 5n, 3n)).toBe(4900n);
    expect(prorate(4900n, 0n, 3n)).toBe(0n);
    expect(prorate(4900n, 1n, 0n)).toBe(0n);
  });

  it('formats minor units as exact decimal money', () => {
    expect([formatMinor(0n), formatMinor(5n), formatMinor(-1267n), formatMinor(123456789012345678n)]).toEqual(['0.00', '0.05', '-12.67', '1234567890123456.78']);
  });
});
