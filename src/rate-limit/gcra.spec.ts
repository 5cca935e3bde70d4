import { gcra } from './gcra.js';

const perMinute = (limit: number) => ({ id: 'w60', limit, windowMs: 60_000 });

/** Drives gcra() like a storage would. */
function bucket(policies = [perMinute(10)]) {
  let tats: Array<number | undefined> = policies.map(() => undefined);
  return (cost: number, now: number) => {
    const { decision, newTats } = gcra(policies, tats, cost, now);
    if (newTats) tats = newTats;
    return decision;
  };
}

describe('gcra', () => {
  it('admits a burst of exactly the limit, then refuses', () => {
    const take = bucket();
    const results = Array.from({ length: 15 }, () => take(1, 1_000).allowed);
    expect(results.filter(Boolean)).toHaveLength(10);
    expect(results.slice(0, 10).every(Boolean)).toBe(true);
  });

  it('reports remaining and a retry-after that is exactly enough', () => {
    const take = bucket();
    for (let i = 0; i < 9; i++) take(1, 0);
    const tenth = take(1, 0);
    expect(tenth.policies[0].remaining).toBe(0);
    const refused = take(1, 0);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(6_000);
    expect(take(1, 5_999).allowed).toBe(false);
    expect(take(1, 6_000).allowed).toBe(true);
  });

  it('slides: capacity comes back continuously, not at a window edge', () => {
    const take = bucket();
    for (let i = 0; i < 10; i++) take(1, 0);
    expect(take(1, 30_000).allowed).toBe(true);
    const after = take(1, 30_000);
    expect(after.allowed).toBe(true);
    expect(after.policies[0].remaining).toBe(3);
  });

  it('weighs by cost', () => {
    const take = bucket();
    expect(take(5, 0).allowed).toBe(true);
    expect(take(5, 0).allowed).toBe(true);
    expect(take(1, 0).allowed).toBe(false);
    expect(take(11, 600_000).allowed).toBe(false);
  });

  it('charges every policy or none', () => {
    const take = bucket([
      { id: 's', limit: 2, windowMs: 1_000 },
      { id: 'm', limit: 3, windowMs: 60_000 },
    ]);
    expect(take(1, 0).allowed).toBe(true);
    expect(take(1, 0).allowed).toBe(true);
    const third = take(1, 0);
    expect(third.allowed).toBe(false);
    // The refused request did not use the per-minute budget.
    expect(third.policies[1].remaining).toBe(1);
    expect(take(1, 1_000).allowed).toBe(true);
    const blockedByMinute = take(1, 2_000);
    expect(blockedByMinute.allowed).toBe(false);
    // 3 per minute refill one every 20 s: the next unit is free at 20 s after the burst.
    expect(blockedByMinute.retryAfterMs).toBe(18_000);
  });
});
