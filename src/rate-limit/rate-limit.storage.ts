import { Inject } from '@nestjs/common';

export interface RateLimitPolicy {
  /** Stable name within the bucket, e.g. `w60` for the tier's per-minute limit. */
  id: string;
  limit: number;
  windowMs: number;
}

export interface RateLimitRequest {
  /** Whose budget: a customer id (all of its keys share it) or an anonymous tracker. */
  bucket: string;
  policies: RateLimitPolicy[];
  /** Units this request uses (its metering cost). */
  cost: number;
}

export interface PolicyState {
  id: string;
  limit: number;
  windowMs: number;
  /** Units still available right after this decision. */
  remaining: number;
  /**
   * Until more of this policy's budget is available: if it refused the request, until the request would fit
   * (its retry-after); otherwise until the next unit comes back (0 when the budget is whole).
   */
  resetMs: number;
  /** This policy has too little budget for the request (on a refusal: one of the policies that refused it). */
  refused: boolean;
}

export interface RateLimitDecision {
  allowed: boolean;
  /** When refused: how long until this request would be admitted. */
  retryAfterMs: number;
  policies: PolicyState[];
}

/**
 * Where rate-limit state lives: Redis (one Lua script per request, exact across instances) or memory
 * (embedded default). Both implement GCRA with the same semantics: a policy "N per window" admits a
 * burst of N and refills continuously at N per window; every policy of a request is checked and
 * charged atomically, all or nothing.
 */
export interface RateLimitStorage {
  /** True when answers cross the network and may hang (the caller then bounds the wait and watches for faults). */
  readonly remote: boolean;
  /** For a remote store: false when a call cannot succeed right now (e.g. not connected), so it is not tried. */
  available?(): boolean;
  /** For a remote store: a cheap round trip, the circuit breaker's probe (without it, a request is the probe). */
  ping?(): Promise<unknown>;
  consume(request: RateLimitRequest): Promise<RateLimitDecision>;
}
export const RateLimitStorage = Symbol('RateLimitStorage');
export const InjectRateLimitStorage = () => Inject(RateLimitStorage);

/** A host's own store from the module options (`rateLimitStorage`), used instead of Redis or memory. */
export const HOST_RATE_LIMIT_STORAGE = Symbol('tollgate.host-rate-limit-storage');

/** The store keys of a policies list are derived once per list and base (a cached list is one consumer's). */
const derivedKeys = new WeakMap<RateLimitPolicy[], { base: string; keys: string[] }>();

/** `${base}${separator}${policy.id}` for each policy, built once per policies list for the last `base` asked for. */
export function policyKeys(base: string, separator: string, policies: RateLimitPolicy[]): string[] {
  const cached = derivedKeys.get(policies);
  if (cached?.base === base) return cached.keys;
  const keys = policies.map((policy) => `${base}${separator}${policy.id}`);
  derivedKeys.set(policies, { base, keys });
  return keys;
}
