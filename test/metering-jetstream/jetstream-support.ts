import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, usingRealPostgres } from '../support/database.js';
import { call } from '../support/http.js';
import { createPrivatePostgres } from '../support/private-postgres.js';
import { type ServiceProcess, spawnService, waitForReady } from '../support/service-process.js';
import { freePort, type LedgerSnapshot, ledgerSnapshot, type LoadStats, spoolFiles, waitUntil } from '../metering-durability/durability-support.js';

/**
 * Shared by the JetStream ingest fault tests: one Postgres several service processes write (the embedded database
 * lives inside one process, so without DATABASE_URL a private cluster stands in), instances on the jetstream
 * transport, and reads of what each one reports about its stream.
 */

export const ADMIN_TOKEN = `jetstream-admin-${randomBytes(8).toString('hex')}`;
/** The consumer's ack_wait (src/metering/jetstream-transport.ts): what a dead instance held comes back after it. */
export const ACK_WAIT_MS = 10_000;

type Query = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;

export interface LedgerDatabase {
  url: string;
  /** The test's schema on the shared Postgres (DATABASE_SCHEMA); null on a private cluster (public). */
  schema: string | null;
  query: Query;
  dispose(): Promise<void>;
}

/** A fresh schema on DATABASE_URL (CI), else a private cluster of this test file's own. */
export async function createLedgerDatabase(): Promise<LedgerDatabase> {
  if (usingRealPostgres) {
    const database = await createTestDatabase();
    return { url: database.databaseUrl!, schema: database.schema, query: database.query, dispose: () => database.dispose() };
  }
  const cluster = await createPrivatePostgres(await freePort());
  const connected = new pg.Client({ connectionString: cluster.url });
  try {
    await cluster.start();
    await connected.connect();
  } catch (error) {
    await cluster.drop().catch(() => undefined);
    throw error;
  }
  return {
    url: cluster.url,
    schema: null,
    query: async <T>(sql: string, params?: unknown[]) => (await connected.query(sql, params)).rows as T[],
    dispose: async () => {
      await connected.end().catch(() => undefined);
      await cluster.drop();
    },
  };
}

export const streamName = () => `T_${randomBytes(6).toString('hex')}`;

export interface Instance {
  name: string;
  url: string;
  dataDir: string;
  service: ServiceProcess;
}

export interface Deployment {
  natsUrl: string;
  stream: string;
  database: LedgerDatabase;
  /** Shared by the instances of one deployment, as in production (rate limits, caches). */
  redisPrefix: string;
}

/** Every instance a test started: killed and cleaned up by `stopInstances` whatever the test did to them. */
export function instanceRegistry() {
  const instances: Instance[] = [];
  return {
    instances,
    async start(deployment: Deployment, name: string, databaseUrl = deployment.database.url): Promise<Instance> {
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), `tollgate-js-${name}-`));
      const env: Record<string, string> = {
        PORT: String(port),
        ADMIN_TOKEN,
        TOLLGATE_DEMO: 'true',
        TOLLGATE_DATA_DIR: dataDir,
        TOLLGATE_TIERS: new URL('../../tiers.yaml', import.meta.url).pathname,
        LOG_LEVEL: 'warn',
        DATABASE_URL: databaseUrl,
        TOLLGATE_INGEST_TRANSPORT: 'jetstream',
        NATS_URL: deployment.natsUrl,
        TOLLGATE_NATS_STREAM: deployment.stream,
        TOLLGATE_NATS_REPLICAS: '1',
      };
      if (deployment.database.schema) env.DATABASE_SCHEMA = deployment.database.schema;
      if (process.env.REDIS_URL) Object.assign(env, { REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: deployment.redisPrefix });
      const service = spawnService(env);
      const instance = { name, url: `http://127.0.0.1:${port}`, dataDir, service };
      instances.push(instance);
      try {
        await waitForReady(instance.url, 60_000);
        // Ready does not wait for NATS (the direct path serves meanwhile): the tests want the stream in use.
        await waitUntil(async () => (await ingestStatus(instance)).connected === true, 20_000, () => `${name} never connected to NATS`, 100);
      } catch (error) {
        throw new Error(`${name} did not start on JetStream (${(error as Error).message}); its output:\n${service.output().slice(-4000)}`, { cause: error });
      }
      return instance;
    },
    async stopAll(): Promise<void> {
      for (const { service, dataDir } of instances) {
        if (service.child.exitCode === null && service.child.signalCode === null) {
          service.child.kill('SIGKILL');
          await service.exited;
        }
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** A customer no quota or rate limit stops, and its key: the load measures metering, nothing else. */
export async function unlimitedCustomer(url: string): Promise<{ customerId: string; secret: string }> {
  const admin = new AdminClient(url, ADMIN_TOKEN);
  const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 100_000_000, rateLimit: ['1000000/min'] } });
  const { secret } = await admin.createKey(customer.id);
  return { customerId: customer.id, secret };
}

export interface IngestStatus {
  transport: string;
  connected: boolean;
  path: string;
  pending: number | null;
  ackPending: number | null;
  redelivered: number | null;
  fallbacks: number;
}

/** `info.ingest` of `/health/ready` (from `details` when another check, the database, is down), and its status. */
export async function readiness(instance: Instance): Promise<{ status: number; ingest: IngestStatus }> {
  const response = await call('GET', `${instance.url}/health/ready`);
  const ingest = (response.body?.details?.ingest ?? response.body?.info?.ingest) as IngestStatus | undefined;
  if (!ingest) throw new Error(`${instance.name}: no ingest check in /health/ready (${response.status}): ${JSON.stringify(response.body)}`);
  return { status: response.status, ingest };
}

export async function ingestStatus(instance: Instance): Promise<IngestStatus> {
  return (await readiness(instance)).ingest;
}

/** The `tollgate_ingest_*` gauges of `/metrics` (a gauge with no value, NATS away, is absent). */
export async function ingestMetrics(instance: Instance): Promise<Map<string, number>> {
  const text = await (await fetch(`${instance.url}/metrics`)).text();
  const figures = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(tollgate_ingest_\w+) (\S+)$/.exec(line);
    if (match) figures.set(match[1], Number(match[2]));
  }
  return figures;
}

/** The stream's consumer has nothing undelivered and nothing unacknowledged: everything is in the ledger. */
export async function waitForStreamDrained(instance: Instance, timeoutMs: number): Promise<void> {
  let last: IngestStatus | null = null;
  await waitUntil(
    async () => {
      last = await ingestStatus(instance);
      return last.connected && last.pending === 0 && last.ackPending === 0;
    },
    timeoutMs,
    () => `the stream did not drain: ${JSON.stringify(last)}`,
    200,
  );
}

/** Acknowledged keys not (yet) in the ledger. */
export function missingFromLedger(snapshot: LedgerSnapshot, acked: Iterable<string>): string[] {
  return [...acked].filter((key) => !snapshot.keys.has(`idem:${key}`));
}

/** Waits until every acknowledged key is in the ledger; on timeout says how many are not. */
export async function waitForLedger(database: LedgerDatabase, customerId: string, acked: Set<string>, timeoutMs: number, what: string): Promise<void> {
  let missing: string[] = [];
  await waitUntil(
    async () => (missing = missingFromLedger(await snapshotOf(database, customerId), acked)).length === 0,
    timeoutMs,
    () => `${what}: ${missing.length} of ${acked.size} acknowledged events missing from the ledger (${missing.slice(0, 3).join(', ')})`,
    250,
  );
}

export function snapshotOf(database: LedgerDatabase, customerId: string): Promise<LedgerSnapshot> {
  return ledgerSnapshot(database.query, customerId);
}

/** The union of several loads' statistics (one load per instance). */
export function mergeStats(all: LoadStats[]): LoadStats {
  const merged: LoadStats = { sent: new Set(), acked: new Set(), statuses: new Map(), ackedWhileFlag: new Set(), inFlight: 0 };
  for (const stats of all) {
    for (const key of stats.sent) merged.sent.add(key);
    for (const key of stats.acked) merged.acked.add(key);
    for (const key of stats.ackedWhileFlag) merged.ackedWhileFlag.add(key);
    for (const [status, n] of stats.statuses) merged.statuses.set(status, (merged.statuses.get(status) ?? 0) + n);
    merged.inFlight += stats.inFlight;
  }
  return merged;
}

/**
 * Every spool file that appears in any of `dirs` while it runs: on the jetstream transport, with NATS up, an
 * event waits in the stream, never in the local spool.
 */
export function watchSpools(dirs: () => string[]) {
  const seen = new Set<string>();
  let watching = true;
  const done = (async () => {
    while (watching) {
      for (const dir of dirs()) for (const name of spoolFiles(dir)) seen.add(`${dir}: ${name}`);
      // Unref'd: a test that failed before stop() leaves no timer holding Jest open.
      await new Promise((resolve) => setTimeout(resolve, 20).unref());
    }
  })();
  return {
    seen,
    stop: async () => {
      watching = false;
      await done;
      return [...seen];
    },
  };
}
