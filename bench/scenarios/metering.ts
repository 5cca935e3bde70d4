import { addedP99Below, type Scenario, serverCpuRatioAtMost, throughputRatioAtLeast } from '../support/scenario.js';

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
        // Issue "Speed": ≥ 0.80 of bare throughput, ≤ 1.3× its server CPU, ≤ 5 ms added p99 at 50 connections.
        aim: [throughputRatioAtLeast(0.8), serverCpuRatioAtMost(1.3), addedP99Below(5)],
      },
    ],
  }),
};

export default scenario;
