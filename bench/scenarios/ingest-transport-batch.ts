import { randomBytes } from 'node:crypto';
import { eventsBody, jetstreamApp } from '../support/ingest-transport.js';
import { JETSTREAM_ENV } from '../support/protocol.js';
import type { Scenario } from '../support/scenario.js';

const EVENTS_PER_REQUEST = 100;
/** Handed to the bench server through its environment (bench/support/server.ts reads the same names). */
const ADMIN_TOKEN = randomBytes(24).toString('base64url');
const CUSTOMER_ID = `cus_bench_transport_${randomBytes(4).toString('hex')}`;

/**
 * Batch ingest (POST /v1/events, 100 new events a request, admin token) on the direct transport (baseline) and on
 * the jetstream one (one stream message per event; the consumer commits them), as in `ingest-transport`.
 */
const scenario: Scenario = {
  name: 'ingest-transport-batch',
  title: `POST /v1/events ×${EVENTS_PER_REQUEST}: direct group commit vs jetstream (publish ack per event; consumer commits) — one process`,
  env: { [JETSTREAM_ENV]: '1', BENCH_ADMIN_TOKEN: ADMIN_TOKEN, BENCH_INGEST_CUSTOMER_ID: CUSTOMER_ID },
  plan: (server) => {
    const jetstream = jetstreamApp(server);
    const batch = { path: '/v1/events', method: 'POST' as const, headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, unitsPerRequest: { count: EVENTS_PER_REQUEST, unit: 'events' } };
    return {
      baseline: { label: `direct: POST /v1/events ×${EVENTS_PER_REQUEST}`, ...batch, body: eventsBody(CUSTOMER_ID, EVENTS_PER_REQUEST) },
      candidates: [
        { label: `jetstream: POST /v1/events ×${EVENTS_PER_REQUEST}`, base: jetstream.base, ...batch, body: eventsBody(CUSTOMER_ID, EVENTS_PER_REQUEST), settle: jetstream.settle },
      ],
    };
  },
};

export default scenario;
