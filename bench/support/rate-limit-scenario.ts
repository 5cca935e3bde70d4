import { addedP99Below, allOf, throughputRatioAtLeast, type Scenario } from './scenario.js';

/**
 * The cost of the request path on a warm key cache: the bare endpoint, then ApiKeyGuard + TierGuard, then
 * with the per-tier rate limit, its store in memory (embedded default) or in Redis (one Lua round trip).
 */
export function rateLimitScenario(store: 'memory' | 'redis'): Scenario {
  const title = store === 'memory' ? 'in-memory store (embedded default)' : 'Redis on loopback (one Lua round trip per request)';
  return {
    name: `rate-limit-${store}`,
    title: `bare endpoint vs ApiKeyGuard + TierGuard vs + RateLimitGuard — ${title}`,
    env: { REDIS_URL: store === 'memory' ? '' : (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') },
    plan: (server) => ({
      baseline: { label: 'bare GET /bench/bare', path: '/bench/bare' },
      candidates: [
        {
          label: 'ApiKeyGuard+TierGuard GET /v1/basic/bench',
          path: '/v1/basic/bench',
          headers: { 'x-api-key': server.apiKey },
          aim: throughputRatioAtLeast(0.9),
        },
        {
          label: '+RateLimitGuard GET /v1/basic/limited',
          path: '/v1/basic/limited',
          headers: { 'x-api-key': server.apiKey },
          aim: store === 'memory' ? throughputRatioAtLeast(0.85) : allOf(throughputRatioAtLeast(0.85), addedP99Below(1)),
        },
      ],
    }),
  };
}
