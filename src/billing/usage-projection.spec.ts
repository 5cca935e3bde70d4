import { projectToPeriodEnd } from './usage-projection.js';

const period = { start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-12-01T00:00:00Z') };

describe('projectToPeriodEnd', () => {
  it('extends each counter at its run rate so far, in exact integers rounded down', () => {
    const tenDaysIn = new Date('2026-11-11T00:00:00Z');
    const projected = projectToPeriodEnd(new Map([['api_calls', 1000n], ['tokens', 7n]]), period, tenDaysIn);
    expect(projected).toEqual(new Map([['api_calls', 3000n], ['tokens', 21n]]));
    // Past 2^53: no float on the way.
    const huge = 2n ** 60n + 1n;
    expect(projectToPeriodEnd(new Map([['tokens', huge]]), period, tenDaysIn).get('tokens')).toBe((huge * 30n) / 10n);
    expect(projectToPeriodEnd(new Map([['api_calls', 1n]]), period, new Date('2026-11-21T00:00:00Z')).get('api_calls')).toBe(1n); // 1.5 → 1
  });

  it('keeps the counters as they are at or after the end, and zero or negative totals as they are', () => {
    const usage = new Map([['api_calls', 500n], ['refunds', -3n], ['idle', 0n]]);
    expect(projectToPeriodEnd(usage, period, period.end)).toEqual(usage);
    expect(projectToPeriodEnd(usage, period, new Date('2026-12-05T00:00:00Z'))).toEqual(usage);
    const midway = projectToPeriodEnd(usage, period, new Date('2026-11-16T00:00:00Z'));
    expect([midway.get('api_calls'), midway.get('refunds'), midway.get('idle')]).toEqual([1000n, -3n, 0n]);
  });

  it('does not divide by zero at the very start of the period', () => {
    expect(projectToPeriodEnd(new Map([['api_calls', 2n]]), period, period.start).get('api_calls')).toBe(2n * BigInt(period.end.getTime() - period.start.getTime()));
  });
});
