import { randomBytes } from 'node:crypto';
import { fixed } from '../support/table.js';
import { type Aim, throughputRatioAtLeast, type Scenario } from '../support/scenario.js';

const EVENTS_PER_REQUEST = 100;
/** Handed to the bench server through its environment (bench/support/server.ts reads the same names). */
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const CUSTOMER_ID = `cus_bench_ingest_${randomBytes(4).toString('hex')}`;

/** Every request carries `count` events with keys never sent before: all are accepted, none is a duplicate. */
let batch = 0;
function eventsBody(count: number): () => string {
  return () => {
    const prefix = `b${++batch}`;
    const events = Array.from({ length: count }, (_, i) => ({
      customerId: CUSTOMER_ID,
      meter: 'api_calls',
      quantity: 1,
      idempotencyKey: `${prefix}-${i}`,
    }));
    return JSON.stringify({ events });
  };
}

/**
 * Server CPU per event at most `fraction` of a bare request's CPU (both measured in this run): the cost of
 * taking one event in (parse, check, group commit, answer), independent of what else loads the machine.
 */
function cpuPerEventAtMost(fraction: number): Aim {
  const perEvent = (micros: number) => micros / EVENTS_PER_REQUEST;
  return {
    description: `server CPU per event ≤ 1/${Math.round(1 / fraction)} of a bare request's`,
    met: (result, baseline) => perEvent(result.serverCpuMicrosPerRequest) <= baseline.serverCpuMicrosPerRequest * fraction,
    detail: (result, baseline) =>
      `${fixed(perEvent(result.serverCpuMicrosPerRequest), 2)} µs/event vs bare ${fixed(baseline.serverCpuMicrosPerRequest, 0)} µs/request: ` +
      `1/${fixed(baseline.serverCpuMicrosPerRequest / perEvent(result.serverCpuMicrosPerRequest), 1)}; ` +
      `${fixed(result.reqPerSec * EVENTS_PER_REQUEST, 0)} events/s`,
  };
}

/**
 * Ingest: POST /v1/events (admin token) through validation and the group commit into the run's database.
 * Batches of 100 are judged on server CPU per event against a bare request's CPU; single events (one per
 * request, as a service reporting each call would send them) on throughput against the bare GET.
 */
const scenario: Scenario = {
  name: 'ingest',
  title: `POST /v1/events, ${EVENTS_PER_REQUEST} events per request and 1 per request (unique idempotency keys, admin token) — the run’s database`,
  env: { BENCH_ADMIN_TOKEN: ADMIN_TOKEN, BENCH_INGEST_CUSTOMER_ID: CUSTOMER_ID },
  plan: () => ({
    baseline: { label: 'bare GET /bench/bare', path: '/bench/bare' },
    candidates: [
      {
        label: `POST /v1/events ×${EVENTS_PER_REQUEST}`,
        path: '/v1/events',
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: eventsBody(EVENTS_PER_REQUEST),
        unitsPerRequest: { count: EVENTS_PER_REQUEST, unit: 'events' },
        aim: cpuPerEventAtMost(1 / 30),
      },
      {
        label: 'POST /v1/events ×1',
        path: '/v1/events',
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        body: eventsBody(1),
        aim: throughputRatioAtLeast(0.5),
      },
    ],
  }),
};

export default scenario;
