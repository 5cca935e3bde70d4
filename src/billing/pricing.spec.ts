import { readFileSync } from 'node:fs';
import { parseTierCatalog } from '../config/tier-catalog.js';
import { effectiveLimits } from '../customers/effective-limits.js';
import { meteredPrice, overageAmount, previewInvoice, tieredAmount } from './pricing.js';

const seed = parseTierCatalog(readFileSync(new URL('../../tiers.yaml', import.meta.url), 'utf8'));
const tier = (name: string) => seed.tiers.find((t) => t.name === name)!;

describe('pricing', () => {
  it('bills pro with 60 000 calls at 49.00 + 10 000 × 0.002 = 69.00 USD, exactly', () => {
    const pro = tier('pro');
    const preview = previewInvoice(pro, effectiveLimits(pro, {}), undefined, new Map([['api_calls', 60_000]]));
    expect(preview.lines).toEqual([
      { description: 'pro plan', meter: null, quantity: 1, unitPrice: '49.00', amount: '49.00' },
      { description: 'api_calls overage: 10000 beyond 50000 included', meter: 'api_calls', quantity: 10_000, unitPrice: '0.002', amount: '20.00' },
    ]);
    expect(preview).toMatchObject({ currency: 'usd', total: '69.00', totalMinor: 6900 });
  });

  it('has no overage line within the included calls, and the free tier costs nothing', () => {
    const pro = tier('pro');
    expect(previewInvoice(pro, effectiveLimits(pro, {}), undefined, new Map([['api_calls', 50_000]])).total).toBe('49.00');
    const free = tier('free');
    expect(previewInvoice(free, effectiveLimits(free, {}), undefined, new Map([['api_calls', 5_000]])).total).toBe('0.00');
  });

  it('rounds each line once, half away from zero', () => {
    const pro = tier('pro');
    // 3 × 0.002 = 0.006 → 0.01
    expect(previewInvoice(pro, effectiveLimits(pro, {}), undefined, new Map([['api_calls', 50_003]])).lines[1].amount).toBe('0.01');
  });

  it('prices graduated and volume bands', () => {
    const bands = [
      { upTo: 100, unitPrice: '0.01', flatFee: '0' },
      { upTo: null, unitPrice: '0.005', flatFee: '1' },
    ];
    expect(overageAmount({ mode: 'graduated', currency: 'usd', unit: 'call', unitPrice: null, bands }, 150)).toBe('2.25');
    expect(overageAmount({ mode: 'volume', currency: 'usd', unit: 'call', unitPrice: null, bands }, 150)).toBe('1.75');
    expect(overageAmount({ mode: 'volume', currency: 'usd', unit: 'call', unitPrice: null, bands }, 100)).toBe('1');
  });

  it('uses an enterprise customer’s own price and included calls', () => {
    const enterprise = tier('enterprise');
    const limits = effectiveLimits(enterprise, { includedCalls: 1_000_000, rateLimit: ['1000/min'] });
    expect(previewInvoice(enterprise, limits, '1500.00', new Map([['api_calls', 2_000_000]])).total).toBe('1500.00');
  });

  describe('banded overage priced as Stripe prices the provisioned metered price', () => {
    const banded = (mode: 'graduated' | 'volume') =>
      parseTierCatalog(`
tiers:
  banded:
    price: 10/month
    included_calls: 1000/month
    rate_limit: 10/min
    endpoints: [/v1/*]
    overage:
      mode: ${mode}
      bands:
        - { up_to: 1000, unit_price: $0.01 }
        - { up_to: 4000, unit_price: $0.005, flat_fee: 2 }
        - { up_to: inf, unit_price: $0.002 }
`).tiers[0];
    const overageOf = (mode: 'graduated' | 'volume', calls: number) => {
      const tier = banded(mode);
      const preview = previewInvoice(tier, effectiveLimits(tier, {}), undefined, new Map([['api_calls', calls]]));
      return preview.lines.find((line) => line.meter === 'api_calls')?.amount ?? '0.00';
    };

    it('provisions the included quantity as a free first tier and shifts the bands by it', () => {
      const price = meteredPrice(1000, banded('volume').overage!);
      expect(price.mode).toBe('volume');
      expect(price.tiers).toEqual([
        { upTo: 1000n, unitPrice: '0', flatFee: '0' },
        { upTo: 2000n, unitPrice: '0.01', flatFee: '0' },
        { upTo: 5000n, unitPrice: '0.005', flatFee: '2' },
        { upTo: null, unitPrice: '0.002', flatFee: '0' },
      ]);
      expect(meteredPrice(0, { mode: 'per_unit', currency: 'usd', unit: 'call', unitPrice: '0.002', bands: [] })).toEqual({
        mode: 'graduated',
        tiers: [{ upTo: null, unitPrice: '0.002', flatFee: '0' }],
      });
    });

    // Volume: past the included quantity EVERY unit (the included ones too) is billed at the band the total is in.
    it.each([
      [1000, '0.00'],
      [1001, '10.01'],
      [2000, '20.00'],
      [2001, '12.01'], // 2001 × 0.005 + 2 = 12.005 → rounded half away from zero
      [5000, '27.00'],
      [5001, '10.00'], // 5001 × 0.002 = 10.002
    ])('volume: %i calls cost %s at the band edges', (calls, amount) => {
      expect(overageOf('volume', calls)).toBe(amount);
    });

    it.each([
      [1000, '0.00'],
      [1001, '0.01'],
      [2000, '10.00'],
      [2001, '12.01'], // 10 + 0.005 + 2
      [5000, '27.00'], // 10 + 3000 × 0.005 + 2
      [5001, '27.00'], // 27.002
    ])('graduated: %i calls cost %s at the band edges', (calls, amount) => {
      expect(overageOf('graduated', calls)).toBe(amount);
    });

    it('bills the first tier’s flat fee even without usage, as Stripe does', () => {
      const price = { mode: 'graduated' as const, tiers: [{ upTo: 10n, unitPrice: '0', flatFee: '5' }, { upTo: null, unitPrice: '1', flatFee: '0' }] };
      expect(tieredAmount(price, 0)).toBe('5');
      expect(tieredAmount({ ...price, mode: 'volume' }, 0)).toBe('5');
      expect(tieredAmount(price, 12)).toBe('7');
    });
  });
});
