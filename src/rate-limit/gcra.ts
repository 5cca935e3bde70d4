import type { PolicyState, RateLimitDecision, RateLimitPolicy } from './rate-limit.storage.js';

/**
 * One GCRA step over several policies. `tats` are the stored theoretical arrival times (ms, or undefined
 * for a fresh policy). Returns the decision and, when admitted, the new arrival times to store.
 * The Redis Lua script is a line-by-line port of this function; keep them in step.
 *
 * Per policy, `resetMs` is when more of its budget becomes available (draft-ietf-httpapi-ratelimit-headers-10,
 * `t`): for a policy that refused this request, how long until the request would fit; otherwise until the
 * next unit comes back (0 when the budget is whole). So on a refusal the refusing policy's reset equals the
 * decision's retry-after, and every header derived from them agrees.
 */
export function gcra(
  policies: RateLimitPolicy[],
  tats: Array<number | undefined>,
  cost: number,
  now: number,
): { decision: RateLimitDecision; newTats: number[] | null } {
  let allowed = true;
  let retryAfterMs = 0;
  const current: number[] = [];
  const candidates: number[] = [];
  const waits: number[] = [];
  policies.forEach((policy, i) => {
    const interval = policy.windowMs / policy.limit;
    const tat = Math.max(tats[i] ?? now, now);
    current.push(tat);
    const next = tat + cost * interval;
    candidates.push(next);
    const allowAt = next - policy.windowMs;
    waits.push(Math.max(0, allowAt - now));
    if (allowAt > now) {
      allowed = false;
      retryAfterMs = Math.max(retryAfterMs, allowAt - now);
    }
  });
  const states: PolicyState[] = policies.map((policy, i) => {
    const interval = policy.windowMs / policy.limit;
    const effective = allowed ? candidates[i] : current[i];
    const remaining = Math.min(policy.limit, Math.max(0, Math.floor((now + policy.windowMs - effective) / interval + 1e-9)));
    const nextUnit = remaining >= policy.limit ? 0 : effective - policy.windowMs + (remaining + 1) * interval - now;
    const resetMs = waits[i] > 0 ? waits[i] : nextUnit;
    return {
      id: policy.id,
      limit: policy.limit,
      windowMs: policy.windowMs,
      remaining,
      resetMs: Math.max(0, Math.ceil(resetMs - 1e-6)),
      refused: waits[i] > 0,
    };
  });
  return { decision: { allowed, retryAfterMs: Math.max(0, Math.ceil(retryAfterMs - 1e-6)), policies: states }, newTats: allowed ? candidates : null };
}
