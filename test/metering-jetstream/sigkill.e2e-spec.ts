import { describeStatuses, expectLedgerHonours, sleep, startLoad, waitUntil } from '../metering-durability/durability-support.js';
import { type PrivateNats, startPrivateNats } from '../support/nats-server.js';
import {
  ACK_WAIT_MS,
  createLedgerDatabase,
  type Deployment,
  ingestMetrics,
  ingestStatus,
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
 * One of two instances sharing a stream is SIGKILLed mid-load. The messages the consumer had handed it and it
 * never acknowledged come back to the survivor once their ack_wait runs out, and the ledger ends exact: every
 * request answered 2xx counted once, counters equal to the ledger.
 */
const CONCURRENCY = 10;
// Frozen this long before the kill: the stream keeps handing it messages (its pull request is still open), so the
// kill surely lands while it holds delivered, unacknowledged ones — the redelivery is then certain, not luck.
const FREEZE_MS = 1_000;

describe('JetStream ingest: SIGKILL of an instance mid-load', () => {
  let nats: PrivateNats;
  let database: LedgerDatabase;
  let deployment: Deployment;
  const fleet = instanceRegistry();

  beforeAll(async () => {
    [nats, database] = await Promise.all([startPrivateNats(), createLedgerDatabase()]);
    deployment = { natsUrl: nats.url, stream: streamName(), database, redisPrefix: `js-sigkill-${streamName()}` };
  }, 60_000);

  afterAll(async () => {
    await fleet.stopAll();
    await nats?.stop();
    await database?.dispose();
  });

  it('has the survivor commit what the killed instance held, each acknowledged event exactly once', async () => {
    // One at a time: the first runs the migrations.
    const victim = await fleet.start(deployment, 'victim');
    const survivor = await fleet.start(deployment, 'survivor');
    const { customerId, secret } = await unlimitedCustomer(victim.url);
    const spools = watchSpools(() => [victim.dataDir, survivor.dataDir]);

    const loads = [victim, survivor].map((instance) =>
      startLoad({ url: `${instance.url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY, errorPauseMs: 200 }),
    );
    await waitUntil(
      () => loads.every((load) => load.stats.acked.size >= 100),
      30_000,
      () => `no load got through: ${loads.map((load) => describeStatuses(load.stats)).join(' | ')}`,
    );
    victim.service.child.kill('SIGSTOP');
    await sleep(FREEZE_MS);
    const inFlightAtKill = loads[0].stats.inFlight;
    victim.service.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect((await victim.service.exited).signal).toBe('SIGKILL');
    // The survivor goes on serving for a moment after the kill.
    await sleep(500);
    const stats = mergeStats(await Promise.all(loads.map((load) => load.stop())));
    expect(inFlightAtKill).toBeGreaterThan(0);

    // What the stream still had undelivered goes to the survivor at once; what the victim held waits for ack_wait.
    await waitUntil(async () => (await ingestStatus(survivor)).pending === 0, 10_000, () => 'the survivor did not take the backlog');
    const held = missingFromLedger(await snapshotOf(database, customerId), stats.acked);
    const heldStatus = await ingestStatus(survivor);
    await waitForLedger(database, customerId, stats.acked, ACK_WAIT_MS + 15_000, `after the kill (${held.length} held by the victim)`);
    const caughtUpAt = Date.now();
    await waitForStreamDrained(survivor, 15_000);

    const ledger = await snapshotOf(database, customerId);
    const survivorMetrics = await ingestMetrics(survivor);
    const redelivered = survivorMetrics.get('tollgate_ingest_stream_redelivered') ?? 0;
    const summary =
      `${stats.acked.size} acknowledged (${describeStatuses(stats)}), ${inFlightAtKill} in flight to the victim at the kill; ` +
      `${held.length} acknowledged events held by the victim (ack pending ${heldStatus.ackPending}), in the ledger ${caughtUpAt - killedAt} ms after the kill, ${redelivered} redelivered to the survivor; ` +
      `ledger ${ledger.eventCount} events, counters ${ledger.counterSum}`;
    if (process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
    try {
      // Redelivery was needed: acknowledged events were missing with nothing left undelivered, and came in only
      // once their ack_wait (10 s from their delivery to the victim) had run out, not in a commit's milliseconds.
      expect(held.length).toBeGreaterThan(0);
      expect(heldStatus.ackPending).toBeGreaterThan(0);
      expect(caughtUpAt - killedAt).toBeGreaterThanOrEqual(ACK_WAIT_MS / 2);
      // The survivor says so: it was given the victim's messages again.
      expect(redelivered).toBeGreaterThan(0);
      expectLedgerHonours(ledger, stats);
      expect(ledger.ledgerSum).toBe(ledger.eventCount);
      // Every event went through the stream: none took the direct path, none waited in a spool.
      expect(survivorMetrics.get('tollgate_ingest_stream_fallbacks')).toBe(0);
      expect(await spools.stop()).toEqual([]);
    } catch (error) {
      if (!process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
      throw error;
    }
  }, 120_000);
});
