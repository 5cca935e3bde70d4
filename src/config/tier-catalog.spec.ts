import { readFileSync } from 'node:fs';
import { ConfigErrors } from './config.errors.js';
import { parseRatePolicy, parseTierCatalog } from './tier-catalog.js';

const seed = readFileSync(new URL('../../tiers.yaml', import.meta.url), 'utf8');

function problemsOf(text: string): string[] {
  try {
    parseTierCatalog(text, 'bad.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigErrors);
    return (error as ConfigErrors).errors.map((e) => e.field);
  }
  throw new Error('expected the catalog to be rejected');
}

describe('parseTierCatalog', () => {
  it('loads the seed catalog exactly as written', () => {
    const catalog = parseTierCatalog(seed);
    expect(catalog.tiers.map((tier) => tier.name)).toEqual(['free', 'pro', 'enterprise']);
    const [free, pro, enterprise] = catalog.tiers;

    expect(free).toMatchObject({
      rank: 0,
      price: { amount: '0.00', amountMinor: 0, currency: 'usd', interval: 'month' },
      includedCalls: 1000,
      rateLimits: [{ limit: 10, windowSeconds: 60 }],
      endpoints: ['/v1/basic/*'],
      support: 'community',
      onQuotaExceeded: 'block',
      alertThresholds: [80, 100, 120],
      overage: null,
    });
    expect(pro).toMatchObject({
      rank: 1,
      price: { amount: '49.00', amountMinor: 4900, interval: 'month' },
      includedCalls: 50000,
      rateLimits: [{ limit: 100, windowSeconds: 60 }],
      endpoints: ['/v1/*'],
      support: 'email',
      onQuotaExceeded: 'overage',
      overage: { mode: 'per_unit', unitPrice: '0.002', currency: 'usd', unit: 'call' },
    });
    expect(enterprise).toMatchObject({
      rank: 2,
      price: 'custom',
      includedCalls: 'custom',
      rateLimits: 'custom',
      endpoints: ['/v1/*', '/v1/admin/*'],
      support: 'dedicated',
      sla: 99.9,
      onQuotaExceeded: 'overage',
    });
    expect(pro.meters.api_calls).toEqual({ included: 50000, overage: pro.overage });
    expect(catalog.meters).toEqual([{ name: 'api_calls', aggregation: 'sum', unit: 'call' }]);
  });

  it.each([
    ['10/min', { limit: 10, windowSeconds: 60 }],
    ['100/minute', { limit: 100, windowSeconds: 60 }],
    ['5/s', { limit: 5, windowSeconds: 1 }],
    ['1_000/hour', { limit: 1000, windowSeconds: 3600 }],
    ['20/15min', { limit: 20, windowSeconds: 900 }],
    ['50000/day', { limit: 50000, windowSeconds: 86400 }],
  ])('parses rate limit %s', (text, expected) => {
    expect(parseRatePolicy(text)).toEqual(expected);
  });

  it.each(['10', '10 per minute', '0/min', '10/fortnight', '-1/min'])('rejects rate limit %s', (text) => {
    expect(parseRatePolicy(text)).toBeNull();
  });

  it('reads the optional fields: meters, costs, policies, thresholds, graduated overage, several limits', () => {
    const catalog = parseTierCatalog(`
meters:
  tokens: { aggregation: sum, unit: token }
  searches: { aggregation: count }
upgrade_url: https://example.com/pricing
tiers:
  starter:
    price: $19.99/month
    included_calls: 10000
    rate_limit: [5/s, 1000/hour]
    endpoints: [/v1/*, { path: /v1/search, cost: 5 }]
    on_quota_exceeded: throttle
    alert_thresholds: [100, 50, 90]
    meters:
      tokens: { included: 1_000_000/month, overage: $0.00001/token }
    overage:
      mode: graduated
      bands:
        - { up_to: 100000, unit_price: $0.002 }
        - { up_to: inf, unit_price: $0.001, flat_fee: 5 }
`);
    const [starter] = catalog.tiers;
    expect(starter.price).toEqual({ amount: '19.99', amountMinor: 1999, currency: 'usd', interval: 'month' });
    expect(starter.rateLimits).toEqual([
      { limit: 5, windowSeconds: 1 },
      { limit: 1000, windowSeconds: 3600 },
    ]);
    expect(starter.endpoints).toEqual(['/v1/*', '/v1/search']);
    expect(starter.endpointCosts).toEqual({ '/v1/search': 5 });
    expect(starter.onQuotaExceeded).toBe('throttle');
    expect(starter.alertThresholds).toEqual([50, 90, 100]);
    expect(starter.overage).toEqual({
      mode: 'graduated',
      currency: 'usd',
      unit: 'call',
      unitPrice: null,
      bands: [
        { upTo: 100000, unitPrice: '0.002', flatFee: '0' },
        { upTo: null, unitPrice: '0.001', flatFee: '5' },
      ],
    });
    expect(starter.meters.tokens).toEqual({
      included: 1000000,
      overage: { mode: 'per_unit', unitPrice: '0.00001', currency: 'usd', unit: 'token', bands: [] },
    });
    expect(catalog.meters.map((meter) => meter.name)).toEqual(['api_calls', 'tokens', 'searches']);
    expect(catalog.meters[2].aggregation).toBe('count');
    expect(catalog.upgradeUrl).toBe('https://example.com/pricing');
  });

  it.each([
    ['a malformed rate limit', seed.replace('rate_limit: 10/min', 'rate_limit: ten per minute'), ['tiers.free.rate_limit']],
    ['a malformed quota', seed.replace('included_calls: 1000/month', 'included_calls: lots'), ['tiers.free.included_calls']],
    ['a malformed price', seed.replace('price: 49/month', 'price: forty-nine'), ['tiers.pro.price']],
    ['a malformed overage', seed.replace('overage: $0.002/call', 'overage: cheap'), ['tiers.pro.overage']],
    ['a typo in a field name', seed.replace('support: email', 'suport: email'), ['tiers.pro.suport']],
    ['endpoints that are not paths', seed.replace('endpoints: [/v1/basic/*]', 'endpoints: [basic]'), ['tiers.free.endpoints[0]']],
    ['a bad policy', seed.replace('support: community', 'support: community\n    on_quota_exceeded: explode'), ['tiers.free.on_quota_exceeded']],
    ['a bad SLA', seed.replace('sla: 99.9%', 'sla: always'), ['tiers.enterprise.sla']],
    ['an unknown meter', seed.replace('support: community', 'support: community\n    meters: { tokens: { included: 5 } }'), ['tiers.free.meters.tokens']],
    ['no tiers', 'tiers: {}', ['tiers']],
    ['not a map', '- free\n- pro', ['tiers']],
  ])('rejects %s, naming the field', (_name, text, fields) => {
    expect(problemsOf(text)).toEqual(fields);
  });

  it('refuses a sub-cent flat fee, which Stripe cannot bill (flat amounts are whole cents)', () => {
    const banded = (flat: string) =>
      seed.replace('overage: $0.002/call', `overage:\n      mode: volume\n      bands:\n        - { up_to: 100, unit_price: $0.01, flat_fee: ${flat} }\n        - { up_to: inf, unit_price: $0.001 }`);
    expect(parseTierCatalog(banded('2.50')).tiers[1].overage?.bands[0].flatFee).toBe('2.5');
    expect(problemsOf(banded('0.005'))).toEqual(['tiers.pro.overage.bands[0].flat_fee']);
    expect(() => parseTierCatalog(banded('$1.001'), 't.yaml')).toThrow(
      't.yaml: tiers.pro.overage.bands[0].flat_fee: a flat fee must be a whole number of cents (Stripe bills flat amounts in whole minor units), got "$1.001"',
    );
  });

  it('refuses a unit price finer than Stripe takes (12 decimal places of a cent)', () => {
    expect(parseTierCatalog(seed.replace('$0.002/call', '$0.00000000000001/call')).tiers[1].overage?.unitPrice).toBe('0.00000000000001');
    expect(problemsOf(seed.replace('$0.002/call', '$0.000000000000001/call'))).toEqual(['tiers.pro.overage']);
  });

  it('reports every bad field at once', () => {
    const text = seed.replace('rate_limit: 10/min', 'rate_limit: fast').replace('price: 49/month', 'price: lots');
    expect(problemsOf(text)).toEqual(['tiers.free.rate_limit', 'tiers.pro.price']);
  });

  it('rejects invalid YAML with the line', () => {
    const error = (() => {
      try {
        parseTierCatalog('tiers:\n  free: [unclosed\n', 'x.yaml');
      } catch (caught) {
        return caught as Error;
      }
      return null;
    })();
    expect(error?.message).toMatch(/^x\.yaml: line \d+: invalid YAML/);
  });

  it('rejects duplicate tier names', () => {
    expect(() => parseTierCatalog('tiers:\n  free: {}\n  free: {}\n')).toThrow(/invalid YAML/);
  });

  it('messages name the file, the field and what was expected', () => {
    try {
      parseTierCatalog(seed.replace('rate_limit: 100/min', 'rate_limit: 100 per minute'), '/etc/tiers.yaml');
      throw new Error('not rejected');
    } catch (error) {
      expect((error as Error).message).toBe(
        '/etc/tiers.yaml: tiers.pro.rate_limit: expected "<count>/<sec|min|hour|day>" like "100/min" or "custom", got "100 per minute"',
      );
    }
  });
});
