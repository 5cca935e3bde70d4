import type { Response } from 'express';
import { gcra } from './gcra.js';
import { setRateLimitHeaders } from './rate-limit.headers.js';
import type { RateLimitPolicy } from './rate-limit.storage.js';

function headersFor(policies: RateLimitPolicy[], requests: Array<{ at: number; cost?: number }>): Record<string, string | number> {
  let tats: Array<number | undefined> = policies.map(() => undefined);
  let headers: Record<string, string | number> = {};
  for (const { at, cost = 1 } of requests) {
    const { decision, newTats } = gcra(policies, tats, cost, at);
    if (newTats) tats = newTats;
    headers = {};
    setRateLimitHeaders({ setHeader: (name: string, value: string | number) => (headers[name] = value) } as unknown as Response, decision);
  }
  return headers;
}

const perMinute = (limit: number): RateLimitPolicy => ({ id: 'w60', limit, windowMs: 60_000 });
const at = (ms: number, count = 1, cost = 1) => Array.from({ length: count }, () => ({ at: ms, cost }));

describe('rate-limit headers', () => {
  it('on a refusal, Retry-After, X-RateLimit-Reset and RateLimit t say the same wait, which is enough', () => {
    const refused = headersFor([perMinute(10)], at(0, 11));
    expect(refused).toMatchObject({ 'Retry-After': 6, 'X-RateLimit-Reset': 6, 'X-RateLimit-Remaining': 0, RateLimit: '"w60";r=0;t=6' });
    // Waiting that long is enough, and not longer than needed.
    expect(headersFor([perMinute(10)], [...at(0, 10), { at: 6_000 }])['X-RateLimit-Remaining']).toBe(0);
    expect(headersFor([perMinute(10)], [...at(0, 10), { at: 5_999 }])['Retry-After']).toBe(1);
  });

  it('on a success, Reset and t are the seconds until the next unit comes back', () => {
    expect(headersFor([perMinute(10)], at(0, 1))).toMatchObject({ 'X-RateLimit-Remaining': 9, 'X-RateLimit-Reset': 6, RateLimit: '"w60";r=9;t=6' });
    expect(headersFor([perMinute(10)], [...at(0, 3), { at: 4_000 }])).toMatchObject({ 'X-RateLimit-Remaining': 6, 'X-RateLimit-Reset': 2 });
    expect(headersFor([perMinute(10)], at(0, 10))).toMatchObject({ 'X-RateLimit-Remaining': 0, 'X-RateLimit-Reset': 6, RateLimit: '"w60";r=0;t=6' });
    expect(headersFor([perMinute(10)], at(0, 1))).not.toHaveProperty('Retry-After');
  });

  it('a costly refusal waits for its whole cost, on every header', () => {
    const refused = headersFor([perMinute(10)], [...at(0, 1, 8), { at: 0, cost: 5 }]);
    expect(refused).toMatchObject({ 'Retry-After': 18, 'X-RateLimit-Reset': 18, 'X-RateLimit-Remaining': 2, RateLimit: '"w60";r=2;t=18' });
  });

  it('with several policies, a refusal describes the policy that refused it, not the emptiest one', () => {
    const policies = [
      { id: 'w1', limit: 2, windowMs: 1_000 },
      { id: 'w60', limit: 3, windowMs: 60_000 },
    ];
    // Two now use the per-second budget; the per-minute one has 1 left but refills slowly.
    const refused = headersFor(policies, at(0, 3));
    expect(refused).toMatchObject({ 'Retry-After': 1, 'X-RateLimit-Reset': 1, RateLimit: '"w1";r=0;t=1' });
    expect(refused['RateLimit-Policy']).toBe('"w1";q=2;w=1, "w60";q=3;w=60');
    // Later the per-minute budget is the one that refuses: 18 s until its next unit.
    const minute = headersFor(policies, [...at(0, 2), { at: 2_000 }, { at: 2_000 }]);
    expect(minute).toMatchObject({ 'Retry-After': 18, 'X-RateLimit-Reset': 18, RateLimit: '"w60";r=0;t=18' });
  });
});

describe('RateLimit-Policy', () => {
  it('is the same whether built from the decision or from the (cached) policies list it was made on', () => {
    const policies = [perMinute(10), { id: 'w3600', limit: 100, windowMs: 3_600_000 }];
    const { decision } = gcra(policies, [undefined, undefined], 1, 0);
    const written = (list?: RateLimitPolicy[]) => {
      const headers: Record<string, string | number> = {};
      setRateLimitHeaders({ setHeader: (name: string, value: string | number) => (headers[name] = value) } as unknown as Response, decision, list);
      return headers['RateLimit-Policy'];
    };
    expect(written()).toBe('"w60";q=10;w=60, "w3600";q=100;w=3600');
    expect(written(policies)).toBe(written());
    expect(written(policies)).toBe(written(policies));
  });
});
