import { randomBytes } from 'node:crypto';
import { startPrivateNats, type PrivateNats } from '../../test/support/nats-server.js';
import { JetStreamTransport, type StreamedBatch } from './jetstream-transport.js';
import { type CounterTotal, eventIdentity, type LedgerEvent } from './usage-ledger.js';

/** The transport against a real nats-server (private, JetStream on a temporary store), the ledger replaced by a script. */
describe('JetStreamTransport', () => {
  let nats: PrivateNats;
  const transports: JetStreamTransport[] = [];

  beforeAll(async () => {
    nats = await startPrivateNats();
  });

  afterAll(async () => {
    for (const transport of transports) await transport.stop();
    await nats?.stop();
  });

  const periodStart = new Date('2026-12-01T00:00:00Z');
  const event = (key: string, quantity = 1, customerId = 'cus_a'): LedgerEvent => ({
    customerId,
    meter: 'api_calls',
    quantity,
    idempotencyKey: key,
    occurredAt: new Date('2026-12-03T10:00:00Z'),
    periodStart,
    periodEnd: new Date('2027-01-01T00:00:00Z'),
    properties: { path: '/x' },
  });

  /** A deferred: the test decides when a commit returns (or fails). */
  function deferred<T>() {
    let resolve!: (value: T) => void;
    let reject!: (error: Error) => void;
    const promise = new Promise<T>((yes, no) => {
      resolve = yes;
      reject = no;
    });
    return { promise, resolve, reject };
  }

  async function started(stream: string, commit: (events: LedgerEvent[]) => Promise<StreamedBatch>, onTotals: (counters: CounterTotal[]) => void = () => undefined) {
    const transport = new JetStreamTransport({ natsUrl: nats.url, stream, replicas: 1, duplicateWindowMs: 120_000 }, commit, onTotals);
    transports.push(transport);
    await transport.start();
    const deadline = Date.now() + 10_000;
    while (!transport.available) {
      if (Date.now() > deadline) throw new Error('the transport did not connect');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return transport;
  }

  const inserted = (events: LedgerEvent[], counters: CounterTotal[] = []): StreamedBatch => ({ outcomes: events.map(() => 'inserted' as const), counters });

  it('answers at the publish ack, dedupes a re-published event by its identity, and commits each event once', async () => {
    const committed: string[] = [];
    const transport = await started(`T_${randomBytes(4).toString('hex')}`, async (events) => {
      committed.push(...events.map((item) => item.idempotencyKey));
      return inserted(events);
    });
    const first = event('k1');
    expect(await transport.publish(first, eventIdentity(first.customerId, first.idempotencyKey))).toBe('accepted');
    // A retry of the same event (same customer and key): the stream drops it (Nats-Msg-Id).
    expect(await transport.publish(first, eventIdentity(first.customerId, first.idempotencyKey))).toBe('duplicate');
    // The same key for another customer is another event.
    const other = event('k1', 1, 'cus_b');
    expect(await transport.publish(other, eventIdentity(other.customerId, other.idempotencyKey))).toBe('accepted');
    const deadline = Date.now() + 5_000;
    while (committed.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(committed).toEqual(['k1', 'k1']);
    expect((await transport.status()).pending).toBe(0);
  });

  it('counts an acknowledged event as queued until its commit, then hands the quota the committed total instead', async () => {
    const commit = deferred<StreamedBatch>();
    const totals: CounterTotal[] = [];
    const transport = await started(`T_${randomBytes(4).toString('hex')}`, () => commit.promise, (counters) => totals.push(...counters));
    const a = event('q1', 3);
    const b = event('q2', 4);
    await transport.publish(a, eventIdentity(a.customerId, a.idempotencyKey));
    await transport.publish(b, eventIdentity(b.customerId, b.idempotencyKey));
    // Acknowledged by the stream, not in the ledger: the quota must still see the 7 units.
    expect(transport.queuedUnits('cus_a', 'api_calls', periodStart)).toBe(7n);
    expect(transport.queuedUnits('cus_a', 'other_meter', periodStart)).toBe(0n);

    const counter: CounterTotal = { customerId: 'cus_a', meter: 'api_calls', periodStart, periodEnd: a.periodEnd, delta: 7n, total: 7n };
    commit.resolve(inserted([a, b], [counter]));
    const deadline = Date.now() + 5_000;
    while (transport.queuedUnits('cus_a', 'api_calls', periodStart) > 0n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(transport.queuedUnits('cus_a', 'api_calls', periodStart)).toBe(0n);
    // Every instance hears the committed total (its quota cache moves at once).
    while (totals.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    // (The two events may have come in one batch or two: the scripted ledger answers the same total for each.)
    expect(totals.length).toBeGreaterThanOrEqual(1);
    expect(new Set(totals.map((total) => `${total.customerId}=${total.total}`))).toEqual(new Set(['cus_a=7']));
  });

  it('tells the publishing instance, not the committing one, that its events are settled', async () => {
    const stream = `T_${randomBytes(4).toString('hex')}`;
    // Only `committer` consumes fast; `publisher`'s own consumer hands everything back (as if its database were away).
    const publisher = await started(stream, () => Promise.reject(new Error('database unavailable')));
    const committer = await started(stream, async (events) => inserted(events));
    const settled = event('s1', 5, 'cus_s');
    await publisher.publish(settled, eventIdentity(settled.customerId, settled.idempotencyKey));
    expect(publisher.queuedUnits('cus_s', 'api_calls', periodStart)).toBeLessThanOrEqual(5n);
    const deadline = Date.now() + 8_000;
    while (publisher.queuedUnits('cus_s', 'api_calls', periodStart) > 0n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(publisher.queuedUnits('cus_s', 'api_calls', periodStart)).toBe(0n);
    expect(committer.queuedUnits('cus_s', 'api_calls', periodStart)).toBe(0n);
  });

  it('keeps a batch in the stream while the ledger is away and delivers it again, acknowledging only after commit', async () => {
    let attempts = 0;
    const committed: string[] = [];
    const transport = await started(`T_${randomBytes(4).toString('hex')}`, async (events) => {
      attempts++;
      if (attempts === 1) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      committed.push(...events.map((item) => item.idempotencyKey));
      return inserted(events);
    });
    const lost = event('r1');
    await transport.publish(lost, eventIdentity(lost.customerId, lost.idempotencyKey));
    const deadline = Date.now() + 8_000;
    while (committed.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(committed).toEqual(['r1']);
    expect(attempts).toBe(2);
    const status = await transport.status();
    expect(status.redelivered).toBeGreaterThanOrEqual(1);
    expect(status.pending).toBe(0);
  });

  it('refuses to publish while NATS is away (the caller takes the direct path) and is available again once it is back', async () => {
    const own = await startPrivateNats();
    const transport = new JetStreamTransport({ natsUrl: own.url, stream: `T_${randomBytes(4).toString('hex')}`, replicas: 1, duplicateWindowMs: 120_000 }, async (events) => inserted(events), () => undefined);
    transports.push(transport);
    try {
      await transport.start();
      const until = async (condition: () => boolean) => {
        const deadline = Date.now() + 10_000;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error('timed out');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      await until(() => transport.available);
      await own.kill();
      await until(() => !transport.available);
      const away = event('n1');
      await expect(transport.publish(away, eventIdentity(away.customerId, away.idempotencyKey))).rejects.toThrow(/not connected/);
      expect((await transport.status()).connected).toBe(false);
      await own.restart();
      await until(() => transport.available);
      expect(await transport.publish(away, eventIdentity(away.customerId, away.idempotencyKey))).toBe('accepted');
    } finally {
      await transport.stop();
      await own.stop();
    }
  });

  it('stops trying a stream that does not acknowledge (a hung server) after one timeout, and resumes once it answers', async () => {
    const own = await startPrivateNats();
    const transport = new JetStreamTransport({ natsUrl: own.url, stream: `T_${randomBytes(4).toString('hex')}`, replicas: 1, duplicateWindowMs: 120_000 }, async (events) => inserted(events), () => undefined);
    transports.push(transport);
    try {
      await transport.start();
      const until = async (condition: () => boolean, timeoutMs = 10_000) => {
        const deadline = Date.now() + timeoutMs;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error('timed out');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      await until(() => transport.available);
      await own.freeze();
      const hung = event('h1');
      const started = Date.now();
      await expect(transport.publish(hung, eventIdentity(hung.customerId, hung.idempotencyKey))).rejects.toThrow();
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
      // The next events do not wait for a timeout each: they are sent the direct way at once.
      expect(transport.available).toBe(false);
      const next = event('h2');
      await expect(transport.publish(next, eventIdentity(next.customerId, next.idempotencyKey))).rejects.toThrow(/not connected/);
      own.thaw();
      await until(() => transport.available);
      expect(await transport.publish(next, eventIdentity(next.customerId, next.idempotencyKey))).toBe('accepted');
    } finally {
      own.thaw();
      await transport.stop();
      await own.stop();
    }
  });
});
