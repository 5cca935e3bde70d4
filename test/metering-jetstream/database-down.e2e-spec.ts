import { describeStatuses, expectLedgerHonours, quarantinedFiles, sleep, startLoad, waitUntil } from '../metering-durability/durability-support.js';
import { type Outage, startPostgresProxy } from '../metering-durability/outage.js';
import { type PrivateNats, startPrivateNats } from '../support/nats-server.js';
import {
  createLedgerDatabase,
  type Deployment,
  ingestMetrics,
  instanceRegistry,
  type LedgerDatabase,
  readiness,
  snapshotOf,
  waitForLedger,
  streamName,
  unlimitedCustomer,
  waitForStreamDrained,
  watchSpools,
} from './jetstream-support.js';

/**
 * Postgres is cut off for 10 s under load. On the jetstream transport the publish ack is the durable answer, so
 * metered requests keep being answered 2xx without the database: their events wait in the stream (not in the local
 * spool, as on the direct path), the consumer's backlog grows, and once Postgres is back the ledger catches up exactly.
 */
const CONCURRENCY = 16;
const OUTAGE_MS = 10_000;

describe('JetStream ingest: Postgres down for 10 s under load', () => {
  let nats: PrivateNats;
  let database: LedgerDatabase;
  let proxy: Outage & { databaseUrl: string };
  let deployment: Deployment;
  const fleet = instanceRegistry();

  beforeAll(async () => {
    [nats, database] = await Promise.all([startPrivateNats(), createLedgerDatabase()]);
    proxy = await startPostgresProxy(database.url);
    deployment = { natsUrl: nats.url, stream: streamName(), database, redisPrefix: `js-dbdown-${streamName()}` };
  }, 60_000);

  afterAll(async () => {
    await fleet.stopAll();
    await proxy?.close();
    await nats?.stop();
    await database?.dispose();
  });

  it('answers from the stream while the database is away, and the ledger catches up exactly', async () => {
    const instance = await fleet.start(deployment, 'only', proxy.databaseUrl);
    const { customerId, secret } = await unlimitedCustomer(instance.url);
    const spools = watchSpools(() => [instance.dataDir]);
    const load = startLoad({ url: `${instance.url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY, whileFlag: () => proxy.down });

    // The stream's backlog as /metrics and /health/ready report it, sampled through the outage.
    let peakBacklog = 0;
    let peakRedelivered = 0;
    const readyStatuses = new Set<number>();
    let statusesWhileDown: string | undefined;
    try {
      await waitUntil(() => load.stats.acked.size >= 100, 30_000, () => `no load got through: ${describeStatuses(load.stats)}`);
      const before = new Map(load.stats.statuses);
      proxy.stop();
      const restoreAt = Date.now() + OUTAGE_MS;
      while (Date.now() < restoreAt) {
        const [metrics, ready] = await Promise.all([ingestMetrics(instance), readiness(instance)]);
        peakBacklog = Math.max(peakBacklog, (metrics.get('tollgate_ingest_stream_pending') ?? 0) + (metrics.get('tollgate_ingest_stream_ack_pending') ?? 0));
        peakRedelivered = Math.max(peakRedelivered, ready.ingest.redelivered ?? 0);
        readyStatuses.add(ready.status);
        expect(ready.ingest.connected).toBe(true);
        await sleep(250);
      }
      statusesWhileDown = [...load.stats.statuses].map(([status, n]) => `${status || 'no answer'}: ${n - (before.get(status) ?? 0)}`).join(', ');
      proxy.start();
      // Live traffic goes on while the backlog is written.
      await sleep(1_000);
    } finally {
      await load.stop();
    }
    const stats = load.stats;

    await waitForLedger(database, customerId, stats.acked, 30_000, 'the ledger did not catch up after the outage');
    await waitForStreamDrained(instance, 15_000);
    const ledger = await snapshotOf(database, customerId);
    const metrics = await ingestMetrics(instance);
    const summary =
      `${stats.acked.size} acknowledged (${describeStatuses(stats)}), ${stats.ackedWhileFlag.size} while the database was down (${statusesWhileDown ?? '?'}); ` +
      `peak backlog ${peakBacklog}, peak redelivered ${peakRedelivered}, /health/ready ${[...readyStatuses].join('/')} meanwhile; ` +
      `ledger ${ledger.eventCount} events, counters ${ledger.counterSum}`;
    if (process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
    try {
      // Served all along: every request answered, and 2xx, the outage's included.
      expect([...stats.statuses.keys()]).toEqual([200]);
      expect(stats.ackedWhileFlag.size).toBeGreaterThan(100);
      // Their events waited in the stream: the consumer's backlog grew and its batches were handed back and offered again.
      expect(peakBacklog).toBeGreaterThan(100);
      expect(peakRedelivered).toBeGreaterThan(0);
      expect(await spools.stop()).toEqual([]);
      expect(quarantinedFiles(instance.dataDir)).toEqual([]);
      expect(metrics.get('tollgate_ingest_stream_fallbacks')).toBe(0);
      expect(metrics.get('tollgate_ingest_stream_refused')).toBe(0);
      expectLedgerHonours(ledger, stats);
      expect(ledger.eventCount).toBeGreaterThanOrEqual(stats.acked.size);
    } catch (error) {
      if (!process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
      throw error;
    }
  }, 120_000);
});
