import { readFileSync } from 'node:fs';
import { parseTierCatalog } from '../config/tier-catalog.js';
import { effectiveLimits } from '../customers/effective-limits.js';
import { describeOverage, describeRateLimits, formatCount, formatMoney, summarizePlan, summarizeTiers } from './portal-view.js';

const seed = parseTierCatalog(readFileSync(new URL('../../tiers.yaml', import.meta.url), 'utf8'));

describe('portal view', () => {
  it('keeps money as the exact decimal string, with a currency sign', () => {
    expect(formatMoney('49.00', 'usd')).toBe('$49.00');
    expect(formatMoney('0.002', 'usd')).toBe('$0.002');
    expect(formatMoney('-1.50', 'eur')).toBe('-€1.50');
    expect(formatMoney('12.5', 'sek')).toBe('12.5 SEK');
  });

  it('formats counts and rate limits for people', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(1000)).toBe('1,000');
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(describeRateLimits([{ limit: 100, windowSeconds: 60 }])).toBe('100 requests per minute');
    expect(describeRateLimits([{ limit: 5, windowSeconds: 1 }, { limit: 1000, windowSeconds: 3600 }])).toBe('5 requests per second and 1,000 requests per hour');
    expect(describeRateLimits([{ limit: 1, windowSeconds: 90 }])).toBe('1 request per 90 seconds');
    expect(describeRateLimits([])).toBe('No rate limit');
  });

  it('describes banded overage prices band by band', () => {
    expect(
      describeOverage({
        mode: 'graduated',
        currency: 'usd',
        unit: 'call',
        unitPrice: null,
        bands: [
          { upTo: 100000, unitPrice: '0.002', flatFee: '0' },
          { upTo: null, unitPrice: '0.001', flatFee: '0' },
        ],
      }),
    ).toBe('$0.002 per call up to 100,000, then $0.001 per call (graduated pricing)');
    expect(describeOverage(null)).toBe('Not available');
  });

  it('summarizes the seed tiers for the comparison table', () => {
    const [free, pro, enterprise] = summarizeTiers(seed.tiers);
    expect(free).toMatchObject({ name: 'free', label: 'Free', price: 'Free', includedCalls: '1,000 per month', rateLimit: '10 requests per minute', purchasable: true });
    expect(free.whenQuotaIsUsed).toBe('Requests are refused until the period resets');
    expect(pro).toMatchObject({ price: '$49.00 per month', priceAmount: '49.00', overage: '$0.002 per call', endpoints: ['/v1/basic/*', '/v1/*'], support: 'Email' });
    expect(enterprise).toMatchObject({ price: 'Custom pricing', includedCalls: 'Custom', rateLimit: 'Custom', sla: '99.9% uptime', purchasable: false });
  });

  it("shows a customer's negotiated limits on its own plan", () => {
    const enterprise = seed.tiers[2];
    const plan = summarizePlan(seed.tiers, enterprise, effectiveLimits(enterprise, { includedCalls: 2_000_000, rateLimit: ['5000/min'] }), '1500.00');
    expect(plan.effective).toEqual({
      includedCalls: '2,000,000 per month',
      rateLimit: '5,000 requests per minute',
      whenQuotaIsUsed: 'Requests go on and are billed as overage',
      price: '$1500.00 per month',
    });
    expect(plan.endpoints).toEqual(['/v1/basic/*', '/v1/*', '/v1/admin/*']);
  });
});
