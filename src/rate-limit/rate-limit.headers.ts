import type { Response } from 'express';
import type { PolicyState, RateLimitDecision } from './rate-limit.storage.js';

const seconds = (ms: number) => Math.ceil(ms / 1000);

/** The policy a client is closest to hitting: least remaining, then the longest wait. */
export function bindingPolicy(decision: RateLimitDecision): PolicyState {
  if (decision.policies.length === 1) return decision.policies[0];
  return [...decision.policies].sort((a, b) => a.remaining - b.remaining || b.resetMs - a.resetMs)[0];
}

/**
 * The classic `X-RateLimit-*` trio for the binding policy, plus the IETF structured fields
 * (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` lists every policy, `RateLimit` the binding one.
 */
export function setRateLimitHeaders(response: Response, decision: RateLimitDecision): void {
  const binding = bindingPolicy(decision);
  response.setHeader('X-RateLimit-Limit', binding.limit);
  response.setHeader('X-RateLimit-Remaining', binding.remaining);
  response.setHeader('X-RateLimit-Reset', seconds(binding.resetMs));
  response.setHeader(
    'RateLimit-Policy',
    decision.policies.map((policy) => `"${policy.id}";q=${policy.limit};w=${seconds(policy.windowMs)}`).join(', '),
  );
  response.setHeader('RateLimit', `"${binding.id}";r=${binding.remaining};t=${seconds(binding.resetMs)}`);
  if (!decision.allowed) response.setHeader('Retry-After', Math.max(1, seconds(decision.retryAfterMs)));
}
