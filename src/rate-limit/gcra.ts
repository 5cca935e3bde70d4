import type { PolicyState, RateLimitDecision, RateLimitPolicy } from './rate-limit.storage.js';

/**
 * One GCRA step over several policies. `tats` are the stored theoretical arrival times (ms, or undefined
 * for a fresh policy). Returns the decision and, when admitted, the new arrival times to store.
 * The Redis Lua script is a line-by-line port of this function; keep them in step.
 */
export function gcra(
  policies: RateLimitPolicy[],
  tats: Array<number | undefined>,
  cost: number,
  now: number,
): { decision: RateLimitDecision; newTats: number[] | null } {
  let allowed = true;
  let retryAfterMs = 0;
  const candidates: number[] = [];
  policies.forEach((policy, i) => {
    const interval = policy.windowMs / policy.limit;
    const tat = Math.max(tats[i] ?? now, now);
    const next = tat + cost * interval;
    candidates.push(next);
    const allowAt = next - policy.windowMs;
    if (allowAt > now) {
      allowed = false;
      retryAfterMs = Math.max(retryAfterMs, allowAt - now);
    }
  });
  const states: PolicyState[] = policies.map((policy, i) => {
    const interval = policy.windowMs / policy.limit;
    const effective = allowed ? candidates[i] : Math.max(tats[i] ?? now, now);
    return {
      id: policy.id,
      limit: policy.limit,
      windowMs: policy.windowMs,
      remaining: Math.max(0, Math.floor((now + policy.windowMs - effective) / interval + 1e-9)),
      resetMs: Math.max(0, Math.ceil(effective - now)),
    };
  });
  return { decision: { allowed, retryAfterMs: Math.ceil(retryAfterMs), policies: states }, newTats: allowed ? candidates : null };
}
