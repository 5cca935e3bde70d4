import { connect, type NatsConnection } from 'nats';
import { describeStatuses, expectLedgerHonours, startLoad, waitUntil } from '../metering-durability/durability-support.js';
import { type PrivateNats, startPrivateNats } from '../support/nats-server.js';
import {
  createLedgerDatabase,
  type Deployment,
  ingestMetrics,
  instanceRegistry,
  type LedgerDatabase,
  mergeStats,
  missingFromLedger,
  snapshotOf,
  waitForLedger,
  streamName,
  unlimitedCustomer,
  waitForStreamDrained,
  watchSpools,
} from './jetstream-support.js';

/**
 * Three instances share one stream and one database, the load spread over all three. Every instance runs the same
 * durable consumer, so an event is often written by an instance other than the one that served it: the ledger must
 * still hold every acknowledged event exactly once, with counters equal to it.
 */
const CONCURRENCY_PER_INSTANCE = 6;
const TARGET_ACKED = 900;

describe('JetStream ingest: three instances, one stream, one database', () => {
  let nats: PrivateNats;
  let database: LedgerDatabase;
  let deployment: Deployment;
  let observer: NatsConnection | null = null;
  const fleet = instanceRegistry();

  beforeAll(async () => {
    [nats, database] = await Promise.all([startPrivateNats(), createLedgerDatabase()]);
    deployment = { natsUrl: nats.url, stream: streamName(), database, redisPrefix: `js-shared-${streamName()}` };
  }, 60_000);

  afterAll(async () => {
    await observer?.close();
    await fleet.stopAll();
    await nats?.stop();
    await database?.dispose();
  });

  it('counts every acknowledged event exactly once, the consumer work shared between the instances', async () => {
    // The first one runs the migrations; the other two start together.
    const first = await fleet.start(deployment, 'a');
    const others = await Promise.all([fleet.start(deployment, 'b'), fleet.start(deployment, 'c')]);
    const instances = [first, ...others];
    const { customerId, secret } = await unlimitedCustomer(first.url);
    const spools = watchSpools(() => instances.map((instance) => instance.dataDir));

    // The instance that commits another one's events tells it so on `<stream>.settled.<its origin>`. Every origin
    // hearing of settlements means at least two instances committed: a lone committer never notifies itself.
    observer = await connect({ servers: nats.url });
    const settledByOrigin = new Map<string, number>();
    observer.subscribe(`${deployment.stream}.settled.*`, {
      callback: (error, message) => {
        if (error) return;
        const origin = message.subject.split('.').at(-1)!;
        const { identities } = message.json<{ identities: string[] }>();
        settledByOrigin.set(origin, (settledByOrigin.get(origin) ?? 0) + identities.length);
      },
    });
    await observer.flush();

    const loads = instances.map((instance) =>
      startLoad({ url: `${instance.url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY_PER_INSTANCE }),
    );
    try {
      await waitUntil(
        () => loads.every((load) => load.stats.acked.size >= TARGET_ACKED / instances.length),
        60_000,
        () => `the load did not get through: ${loads.map((load) => describeStatuses(load.stats)).join(' | ')}`,
      );
    } finally {
      await Promise.all(loads.map((load) => load.stop()));
    }
    const stats = mergeStats(loads.map((load) => load.stats));

    await waitForLedger(database, customerId, stats.acked, 30_000, 'the ledger did not catch up');
    for (const instance of instances) await waitForStreamDrained(instance, 15_000);
    await observer.flush();
    const ledger = await snapshotOf(database, customerId);
    const metrics = await Promise.all(instances.map(ingestMetrics));
    const settled = [...settledByOrigin.values()];
    const summary =
      `${stats.acked.size} acknowledged (${instances.map((instance, i) => `${instance.name}: ${loads[i].stats.acked.size}`).join(', ')}; ${describeStatuses(stats)}); ` +
      `settled by another instance, per origin: ${settled.join(', ')}; ledger ${ledger.eventCount} events, counters ${ledger.counterSum}`;
    if (process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
    try {
      expect([...stats.statuses.keys()]).toEqual([200]);
      expectLedgerHonours(ledger, stats);
      expect(ledger.eventCount).toBe(stats.acked.size);
      // Each instance's events are in the ledger, and some of each were written by another instance.
      for (const load of loads) expect(missingFromLedger(ledger, load.stats.acked)).toEqual([]);
      expect(settledByOrigin.size).toBe(instances.length);
      // All through the stream: no fallback, no spool.
      expect(metrics.map((figures) => figures.get('tollgate_ingest_stream_fallbacks'))).toEqual([0, 0, 0]);
      expect(await spools.stop()).toEqual([]);
    } catch (error) {
      if (!process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
      throw error;
    }
  }, 120_000);
});
