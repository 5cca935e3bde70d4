import { jetstreamApp } from '../support/ingest-transport.js';
import { JETSTREAM_ENV } from '../support/protocol.js';
import type { Scenario } from '../support/scenario.js';

/**
 * Issue 15: a metered request's cost with the jetstream ingest transport against the direct one. One server process
 * runs two Tollgate apps on the same database and Redis: the primary writes each event by group commit before it
 * answers (direct, the baseline); the other answers on the stream's publish ack, and its consumer, in the same
 * process, writes the events to the ledger. Each jetstream run ends when the stream is empty (all in the ledger).
 */
const scenario: Scenario = {
  name: 'ingest-transport',
  title: 'GET /v1/basic/metered (full chain + @Metered, durable): direct group commit vs jetstream (publish ack; consumer commits) — one process',
  env: { [JETSTREAM_ENV]: '1' },
  plan: (server) => {
    const jetstream = jetstreamApp(server);
    return {
      baseline: { label: 'direct: GET /v1/basic/metered', path: '/v1/basic/metered', headers: { 'x-api-key': server.apiKey } },
      candidates: [
        {
          label: 'jetstream: GET /v1/basic/metered',
          base: jetstream.base,
          path: '/v1/basic/metered',
          headers: { 'x-api-key': jetstream.apiKey },
          settle: jetstream.settle,
        },
      ],
    };
  },
};

export default scenario;
