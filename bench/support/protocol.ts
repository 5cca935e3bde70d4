/** Messages the bench server (child process) sends its parent over the IPC channel. */
export type ServerMessage =
  /** `extra`: what a scenario's own setup adds (e.g. the peers scenario's ports and keys), by name. */
  | { type: 'ready'; port: number; apiKey: string; extra?: Record<string, string> }
  | { type: 'failed'; message: string }
  /** Answer to a `cpu-usage` request: the server process's CPU time so far (user + system), in µs. */
  | { type: 'cpu-usage'; micros: number };

/** Messages the parent sends the bench server. */
export type ParentMessage = { type: 'cpu-usage' };

/** Environment variables through which the parent hands the child its isolated resources. */
export const SERVER_ENV = {
  dataDir: 'BENCH_DATA_DIR',
  databaseSchema: 'BENCH_DATABASE_SCHEMA',
  redisPrefix: 'BENCH_REDIS_PREFIX',
  /** With JETSTREAM_ENV: the NATS server and the run's own stream (bench/support/isolation.ts makes both). */
  natsUrl: 'BENCH_NATS_URL',
  natsStream: 'BENCH_NATS_STREAM',
} as const;

/** Set to `1` by the peers scenario: the server also starts Tollgate with its in-memory store and the peer apps. */
export const PEERS_ENV = 'BENCH_PEERS';

/**
 * Set to `1` by the ingest-transport scenarios: the server also starts a Tollgate app with the jetstream ingest
 * transport (same database and Redis as the primary, direct one), on the NATS and stream the isolation gives it.
 */
export const JETSTREAM_ENV = 'BENCH_JETSTREAM';
