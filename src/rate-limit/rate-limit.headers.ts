import type { HeaderSink } from '../common/index.js';
import type { PolicyState, RateLimitDecision, RateLimitPolicy } from './rate-limit.storage.js';

const seconds = (ms: number) => Math.ceil(ms / 1000);

/** Whole seconds until a refused request would be admitted (never 0: "retry now" would just be refused again). */
export function retryAfterSeconds(decision: RateLimitDecision): number {
  return Math.max(1, seconds(decision.retryAfterMs));
}

/**
 * The policy the headers describe. On a refusal: the refusing policy with the longest wait (its reset is the
 * decision's retry-after). Otherwise: the one a client is closest to hitting (least remaining, then longest reset).
 */
export function bindingPolicy(decision: RateLimitDecision): PolicyState {
  if (decision.policies.length === 1) return decision.policies[0];
  const refusing = decision.allowed ? [] : decision.policies.filter((policy) => policy.refused);
  if (refusing.length > 0) return [...refusing].sort((a, b) => b.resetMs - a.resetMs)[0];
  return [...decision.policies].sort((a, b) => a.remaining - b.remaining || b.resetMs - a.resetMs)[0];
}

const policyHeader = (policies: ReadonlyArray<RateLimitPolicy>) =>
  policies.map((policy) => `"${policy.id}";q=${policy.limit};w=${seconds(policy.windowMs)}`).join(', ');

/** `RateLimit-Policy` is fixed per policies list: built once per (cached) list rather than on every request. */
const policyHeaders = new WeakMap<RateLimitPolicy[], string>();

function policyHeaderOf(policies: RateLimitPolicy[]): string {
  let header = policyHeaders.get(policies);
  if (header === undefined) policyHeaders.set(policies, (header = policyHeader(policies)));
  return header;
}

/**
 * The classic `X-RateLimit-*` trio for the binding policy, plus the IETF structured fields
 * (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` lists every policy, `RateLimit` the binding one.
 * `X-RateLimit-Reset` and `t` are seconds until more budget is available (the draft's -10 wording): on a
 * refusal that is exactly `Retry-After`, so a client following any of the three waits the same, sufficient
 * time; on an admitted request, until the next unit comes back (0 when the budget is whole). `policies`, when
 * given, is the list the decision was made on (its `RateLimit-Policy` value is then cached).
 */
export function setRateLimitHeaders(response: HeaderSink, decision: RateLimitDecision, policies?: RateLimitPolicy[]): void {
  const binding = bindingPolicy(decision);
  const reset = decision.allowed ? seconds(binding.resetMs) : retryAfterSeconds(decision);
  response.setHeader('X-RateLimit-Limit', binding.limit);
  response.setHeader('X-RateLimit-Remaining', binding.remaining);
  response.setHeader('X-RateLimit-Reset', reset);
  response.setHeader('RateLimit-Policy', policies ? policyHeaderOf(policies) : policyHeader(decision.policies));
  response.setHeader('RateLimit', `"${binding.id}";r=${binding.remaining};t=${reset}`);
  if (!decision.allowed) response.setHeader('Retry-After', reset);
}
