import { describeStatuses, expectLedgerHonours, sleep, startLoad, waitUntil } from '../metering-durability/durability-support.js';
import { type PrivateNats, startPrivateNats } from '../support/nats-server.js';
import {
  createLedgerDatabase,
  type Deployment,
  ingestMetrics,
  instanceRegistry,
  type Instance,
  type LedgerDatabase,
  mergeStats,
  readiness,
  snapshotOf,
  waitForLedger,
  streamName,
  unlimitedCustomer,
  waitForStreamDrained,
  watchSpools,
} from './jetstream-support.js';

/**
 * NATS is killed under load and restarted on the same port and store a few seconds later. Meanwhile requests are
 * still answered 2xx through the direct path, the instances stay ready and say they fell back; after the restart
 * they use the stream again, and the ledger holds every acknowledged event exactly once (an event whose publish
 * landed but whose ack was lost is in the stream and the ledger both: counted once).
 */
const CONCURRENCY = 8;
const OUTAGE_MS = 4_000;

const connectedGauge = async (instance: Instance) => (await ingestMetrics(instance)).get('tollgate_ingest_jetstream_connected');
const fallbacks = async (instances: Instance[]) =>
  (await Promise.all(instances.map(ingestMetrics))).reduce((sum, figures) => sum + (figures.get('tollgate_ingest_stream_fallbacks') ?? 0), 0);

describe('JetStream ingest: NATS restarted under load', () => {
  let nats: PrivateNats;
  let database: LedgerDatabase;
  let deployment: Deployment;
  const fleet = instanceRegistry();

  beforeAll(async () => {
    [nats, database] = await Promise.all([startPrivateNats(), createLedgerDatabase()]);
    deployment = { natsUrl: nats.url, stream: streamName(), database, redisPrefix: `js-natsrestart-${streamName()}` };
  }, 60_000);

  afterAll(async () => {
    await fleet.stopAll();
    await nats?.stop();
    await database?.dispose();
  });

  it('falls back to the direct path while NATS is away, returns to the stream, and keeps the ledger exact', async () => {
    const first = await fleet.start(deployment, 'first');
    const second = await fleet.start(deployment, 'second');
    const instances = [first, second];
    const { customerId, secret } = await unlimitedCustomer(first.url);
    const spools = watchSpools(() => instances.map((instance) => instance.dataDir));
    let natsDown = false;
    const loads = instances.map((instance) =>
      startLoad({ url: `${instance.url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY, whileFlag: () => natsDown }),
    );
    let fallbacksAtReturn: number | undefined;
    let reconnectMs: number | undefined;
    try {
      await waitUntil(
        () => loads.every((load) => load.stats.acked.size >= 100),
        30_000,
        () => `no load got through: ${loads.map((load) => describeStatuses(load.stats)).join(' | ')}`,
      );
      expect(await fallbacks(instances)).toBe(0);

      await nats.kill();
      natsDown = true;
      const killedAt = Date.now();
      // Still ready (the direct path serves), and saying so: not connected, the fallback path.
      for (const instance of instances) {
        await waitUntil(async () => (await readiness(instance)).ingest.connected === false, 5_000, () => `${instance.name} still says connected`, 100);
        const ready = await readiness(instance);
        expect({ status: ready.status, connected: ready.ingest.connected, path: ready.ingest.path }).toEqual({
          status: 200,
          connected: false,
          path: 'direct (fallback: NATS unavailable)',
        });
        // /metrics reuses one reading of the transport for 250 ms.
        await waitUntil(async () => (await connectedGauge(instance)) === 0, 2_000, () => `${instance.name}: tollgate_ingest_jetstream_connected is not 0`, 100);
      }
      await sleep(Math.max(0, killedAt + OUTAGE_MS - Date.now()));
      const ackedWhileDown = mergeStats(loads.map((load) => load.stats)).ackedWhileFlag.size;
      expect(ackedWhileDown).toBeGreaterThan(50);

      await nats.restart();
      const restartedAt = Date.now();
      natsDown = false;
      for (const instance of instances) {
        await waitUntil(async () => (await readiness(instance)).ingest.connected === true, 20_000, () => `${instance.name} did not reconnect`, 100);
        await waitUntil(async () => (await connectedGauge(instance)) === 1, 2_000, () => `${instance.name}: tollgate_ingest_jetstream_connected is not 1`, 100);
      }
      reconnectMs = Date.now() - restartedAt;
      // Back on the stream: what is served from now on takes no more fallbacks.
      // Every event served while NATS was away is a fallback (give or take the requests answered across the kill).
      fallbacksAtReturn = await fallbacks(instances);
      expect(fallbacksAtReturn).toBeGreaterThanOrEqual(ackedWhileDown - 2 * CONCURRENCY);
      const ackedAtReturn = mergeStats(loads.map((load) => load.stats)).acked.size;
      await waitUntil(() => mergeStats(loads.map((load) => load.stats)).acked.size >= ackedAtReturn + 200, 20_000, () => 'the load stalled after the restart');
      expect(await fallbacks(instances)).toBe(fallbacksAtReturn);
    } finally {
      natsDown = false;
      await Promise.all(loads.map((load) => load.stop()));
    }
    const stats = mergeStats(loads.map((load) => load.stats));

    // Messages delivered before the kill and never acknowledged come back after their ack_wait.
    await waitForLedger(database, customerId, stats.acked, 30_000, 'the ledger did not catch up after the restart');
    for (const instance of instances) await waitForStreamDrained(instance, 20_000);
    const ledger = await snapshotOf(database, customerId);
    const summary =
      `${stats.acked.size} acknowledged (${describeStatuses(stats)}), ${stats.ackedWhileFlag.size} while NATS was down; ` +
      `${fallbacksAtReturn} fallbacks, reconnected ${reconnectMs} ms after the restart; ledger ${ledger.eventCount} events, counters ${ledger.counterSum}`;
    if (process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
    try {
      // Every request answered 2xx, those in flight at the kill (held up to the publish timeout) included.
      expect([...stats.statuses.keys()]).toEqual([200]);
      // The direct path had the database: nothing was spooled.
      expect(await spools.stop()).toEqual([]);
      expectLedgerHonours(ledger, stats);
      expect(ledger.eventCount).toBeGreaterThanOrEqual(stats.acked.size);
    } catch (error) {
      if (!process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
      throw error;
    }
  }, 120_000);
});
