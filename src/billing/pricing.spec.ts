import { readFileSync } from 'node:fs';
import { parseTierCatalog } from '../config/tier-catalog.js';
import { effectiveLimits } from '../customers/effective-limits.js';
import { overageAmount, previewInvoice } from './pricing.js';

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
});
