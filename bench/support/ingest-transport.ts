import { randomBytes } from 'node:crypto';
import { waitForEmptyStream } from './nats.js';
import type { BenchServer } from './server-process.js';

/** A jetstream run's settle step may take this long (then the run fails: the consumer is stuck or far behind). */
const DRAIN_TIMEOUT_MS = 55_000;

/** The jetstream app of a server started with BENCH_JETSTREAM=1 (bench/support/server.ts). */
export function jetstreamApp(server: BenchServer): { base: string; apiKey: string; settle: () => Promise<number> } {
  const { jetstreamPort, jetstreamApiKey, natsUrl, natsStream } = server.extra;
  if (!jetstreamPort) throw new Error('the bench server has no jetstream app (BENCH_JETSTREAM=1 missing from the scenario env)');
  return {
    base: `http://127.0.0.1:${jetstreamPort}`,
    apiKey: jetstreamApiKey,
    // A response means "in the stream"; the ledger write follows on the consumer. The run waits for it, so the CPU
    // figure holds the whole cost of an event and the next run does not share the machine with this one's backlog.
    settle: () => waitForEmptyStream(natsUrl, natsStream, DRAIN_TIMEOUT_MS),
  };
}

/** POST /v1/events bodies of `count` events each, for `customerId`, every idempotency key new (all are accepted). */
export function eventsBody(customerId: string, count: number): () => string {
  const tag = randomBytes(4).toString('hex');
  let batch = 0;
  return () => {
    const prefix = `${tag}-${++batch}`;
    return JSON.stringify({
      events: Array.from({ length: count }, (_, i) => ({ customerId, meter: 'api_calls', quantity: 1, idempotencyKey: `${prefix}-${i}` })),
    });
  };
}
