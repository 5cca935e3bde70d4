import { throughputRatioAtLeast, type Scenario } from '../support/scenario.js';

/**
 * Durable metering's cost: the bare endpoint vs the full guard chain (key, tier, rate limit, quota) with
 * `@Metered` — every response waits until its usage event is committed (group commit) in the run's database.
 */
const scenario: Scenario = {
  name: 'metering',
  title: 'bare endpoint vs full guard chain + @Metered (quota guard, durable group commit) — the run’s database and rate-limit store',
  plan: (server) => ({
    baseline: { label: 'bare GET /bench/bare', path: '/bench/bare' },
    candidates: [
      {
        label: '+QuotaGuard+@Metered GET /v1/basic/metered',
        path: '/v1/basic/metered',
        headers: { 'x-api-key': server.apiKey },
        aim: throughputRatioAtLeast(0.7),
      },
    ],
  }),
};

export default scenario;
