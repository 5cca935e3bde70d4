import { randomBytes } from 'node:crypto';
import type { Aim, Scenario } from '../support/scenario.js';

const EVENTS_PER_REQUEST = 100;
/** Handed to the bench server through its environment (bench/support/server.ts reads the same names). */
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const CUSTOMER_ID = `cus_bench_ingest_${randomBytes(4).toString('hex')}`;

/** Every request carries 100 events with keys never sent before: all are accepted, none is a duplicate. */
let batch = 0;
function eventsBody(): string {
  const prefix = `b${++batch}`;
  const events = Array.from({ length: EVENTS_PER_REQUEST }, (_, i) => ({
    customerId: CUSTOMER_ID,
    meter: 'api_calls',
    quantity: 1,
    idempotencyKey: `${prefix}-${i}`,
  }));
  return JSON.stringify({ events });
}

function eventsPerSecondAtLeast(minimum: number): Aim {
  return {
    description: `events/s ≥ ${minimum} (req/s × ${EVENTS_PER_REQUEST})`,
    met: (result) => result.reqPerSec * EVENTS_PER_REQUEST >= minimum,
  };
}

/**
 * Ingest throughput: POST /v1/events with 100-event batches (admin token), through validation and the group
 * commit into the run's database. The bare GET is the baseline only to show the machine's speed; the figure
 * that matters is events/s (= req/s × 100), printed under the table.
 */
const scenario: Scenario = {
  name: 'ingest',
  title: `POST /v1/events, ${EVENTS_PER_REQUEST} events per request (unique idempotency keys, admin token) — the run’s database`,
  env: { BENCH_ADMIN_TOKEN: ADMIN_TOKEN, BENCH_INGEST_CUSTOMER_ID: CUSTOMER_ID },
  plan: () => ({
    baseline: { label: 'bare GET /bench/bare', path: '/bench/bare' },
    candidates: [
      {
        label: `POST /v1/events ×${EVENTS_PER_REQUEST}`,
        path: '/v1/events',
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: eventsBody,
        unitsPerRequest: { count: EVENTS_PER_REQUEST, unit: 'events' },
        aim: eventsPerSecondAtLeast(50_000),
      },
    ],
  }),
};

export default scenario;
