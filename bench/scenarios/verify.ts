import { randomBytes } from 'node:crypto';
import { type Scenario, serverCpuRatioAtMost } from '../support/scenario.js';

/** Handed to the bench server through its environment (bench/support/server.ts reads the same name). */
const ADMIN_TOKEN = randomBytes(24).toString('base64url');

/**
 * The verify API against the guarded Nest route it stands in for: the same decision (key from the warm cache, tier
 * glob, rate limit, quota, durable usage event) asked over `POST /v1/keys/verify` instead of taken by the guards.
 */
const scenario: Scenario = {
  name: 'verify',
  title: 'POST /v1/keys/verify (cached key, records usage) vs the guarded @Metered route it stands in for — the run’s database and rate-limit store',
  env: { BENCH_ADMIN_TOKEN: ADMIN_TOKEN },
  plan: (server) => ({
    baseline: { label: 'guarded GET /v1/basic/metered', path: '/v1/basic/metered', headers: { 'x-api-key': server.apiKey } },
    candidates: [
      {
        label: 'POST /v1/keys/verify',
        path: '/v1/keys/verify',
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: () => JSON.stringify({ key: server.apiKey, path: '/v1/basic/metered', method: 'GET' }),
        aim: serverCpuRatioAtMost(1.2),
      },
    ],
  }),
};

export default scenario;
