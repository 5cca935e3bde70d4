import type { Scenario } from './scenario.js';

/** The same scenario with its server on `@nestjs/platform-fastify`: ratios against the Fastify server's own bare endpoint. */
export function onFastify(scenario: Scenario): Scenario {
  return {
    ...scenario,
    name: `${scenario.name}-fastify`,
    title: `${scenario.title} — on Fastify`,
    env: { ...scenario.env, BENCH_ADAPTER: 'fastify' },
  };
}
