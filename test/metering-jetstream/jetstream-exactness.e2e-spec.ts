import { jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { QUOTA_EXCEEDED, USAGE_THRESHOLD_CROSSED, type UsageThresholdCrossedEvent } from 'tollgate';
import type { TollgateConfig } from '../../src/config/tollgate-config.js';
import { UsageLedger } from '../../src/metering/usage-ledger.js';
import { ExactnessProbeModule } from '../metering-exactness/exactness-probe.module.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, type CallResult } from '../support/http.js';
import { startPrivateNats, type PrivateNats } from '../support/nats-server.js';
import { startTestApp, testConfig, TEST_ADMIN_TOKEN, type TestApp } from '../support/test-app.js';
import { sleep } from '../support/wait.js';

/**
 * The JetStream transport in two instances on one database and one stream: every answered request counted once,
 * alerts once, a block quota exact on an instance although answers come before the ledger has the events, a
 * retried ingest answered as the duplicate it is, and the transport reported on /health/ready and /metrics.
 */
const PROBE = '/v1/exactness-probe';

describe('ingest through JetStream', () => {
  let nats: PrivateNats;
  let database: TestDatabase;
  let first: TestApp;
  let second: TestApp;
  let admin: AdminClient;

  const get = (url: string, apiKey: string, idempotencyKey?: string): Promise<CallResult> =>
    call('GET', `${url}${PROBE}`, { apiKey, headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} });

  async function ledgerOf(customerId: string) {
    const [counter] = await database.query<{ total: string | null }>('SELECT sum(total)::text AS total FROM usage_counters WHERE customer_id = $1', [customerId]);
    const [events] = await database.query<{ rows: string; keys: string }>(
      'SELECT count(*)::text AS rows, count(DISTINCT idempotency_key)::text AS keys FROM usage_events WHERE customer_id = $1',
      [customerId],
    );
    return { counter: Number(counter.total ?? 0), rows: Number(events.rows), distinctKeys: Number(events.keys) };
  }

  async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(25);
    }
  }

  function alertsHeard(app: INestApplication, customerId: string): UsageThresholdCrossedEvent[] {
    const heard: UsageThresholdCrossedEvent[] = [];
    const emitter = app.get(EventEmitter2);
    for (const name of [USAGE_THRESHOLD_CROSSED, QUOTA_EXCEEDED]) {
      emitter.on(name, (event: UsageThresholdCrossedEvent) => event.customerId === customerId && heard.push(event));
    }
    return heard;
  }

  beforeAll(async () => {
    nats = await startPrivateNats();
    database = await createTestDatabase();
    const stream = `T_${randomBytes(4).toString('hex')}`;
    const jetstream = (config?: TollgateConfig): Partial<TollgateConfig> => ({
      ingestTransport: 'jetstream',
      natsUrl: nats.url,
      natsStream: stream,
      ...(config ? { redisPrefix: config.redisPrefix } : {}),
    });
    const firstConfig = testConfig(database, jetstream());
    first = await startTestApp(database, { config: firstConfig, imports: [ExactnessProbeModule] });
    second = await startTestApp(database, { config: testConfig(database, jetstream(firstConfig)), imports: [ExactnessProbeModule] });
    admin = new AdminClient(first.url);
    for (const app of [first, second]) {
      await until(async () => ((await call('GET', `${app.url}/health/ready`)).body as { info?: { ingest?: { connected?: boolean } } }).info?.ingest?.connected === true, 'JetStream');
    }
  });

  afterAll(async () => {
    await second?.close();
    await first?.close();
    await database?.dispose();
    await nats?.stop();
  });

  it('counts 450 concurrent requests (425 distinct events) over two instances once each, and raises each alert once', async () => {
    // Included 400: the 425 events cross 80 % (320) and 100 % (400) on whichever instance, not 120 % (480).
    const customer = await admin.createCustomer('pro', { overrides: { includedCalls: 400, rateLimit: ['10000000/min'] } });
    const { secret } = await admin.createKey(customer.id);
    const heard = [...[first, second].map((app) => alertsHeard(app.app, customer.id))];
    // Each instance: 200 requests without a key and 25 with keys the other instance also gets (a retry landing
    // elsewhere, deduped by the stream or the ledger): 425 distinct events.
    const plan = (url: string) => [
      ...Array.from({ length: 200 }, () => () => get(url, secret)),
      ...Array.from({ length: 25 }, (_, i) => () => get(url, secret, `shared-${i}`)),
    ];
    const responses = await Promise.all([...plan(first.url), ...plan(second.url)].map((send) => send()));
    expect(responses.filter((response) => response.status !== 200).map((response) => response.status)).toEqual([]);

    // Answered at the stream's ack: the ledger catches up from the stream.
    await until(async () => (await ledgerOf(customer.id)).rows >= 425, 'the ledger to hold 425 events');
    await sleep(300);
    expect(await ledgerOf(customer.id)).toEqual({ counter: 425, rows: 425, distinctKeys: 425 });
    await until(async () => heard.flat().length >= 3, 'the alerts');
    await sleep(300);
    expect(
      heard
        .flat()
        .map((event) => event.threshold)
        .sort((a, b) => a - b),
    ).toEqual([80, 100, 100]);
  });

  it('keeps a block quota exact on an instance while the answered events are still in the stream', async () => {
    const customer = await admin.createCustomer('pro', { overrides: { includedCalls: 10, rateLimit: ['10000/min'], onQuotaExceeded: 'block' } });
    const { secret } = await admin.createKey(customer.id);
    // The ledger writes wait (as under a slow database): the answered events stay in the stream meanwhile, and
    // only the instance's queued units stand between them and a quota that would forget them.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const held = [first, second].map((app) => {
      const ledger = app.app.get(UsageLedger);
      const insertBatch = ledger.insertBatch.bind(ledger);
      return jest.spyOn(ledger, 'insertBatch').mockImplementation(async (events) => {
        await gate;
        return insertBatch(events);
      });
    });
    const burst = await Promise.all(Array.from({ length: 40 }, () => get(first.url, secret)));
    expect(burst.filter((response) => response.status === 200)).toHaveLength(10);
    expect(burst.filter((response) => response.status === 429)).toHaveLength(30);
    // Right after the answers, before (or while) the consumer commits: still nothing more passes.
    const after: number[] = [];
    for (let i = 0; i < 10; i++) after.push((await get(first.url, secret)).status);
    expect(after).toEqual(Array.from({ length: 10 }, () => 429));
    expect(await ledgerOf(customer.id)).toEqual({ counter: 0, rows: 0, distinctKeys: 0 });
    open();
    for (const spy of held) spy.mockRestore();
    await until(async () => (await ledgerOf(customer.id)).rows >= 10, 'the ledger to hold 10 events');
    expect(await ledgerOf(customer.id)).toEqual({ counter: 10, rows: 10, distinctKeys: 10 });
  });

  it('answers a re-sent ingest event as a duplicate, through either instance, and counts it once', async () => {
    const customer = await admin.createCustomer('pro');
    const body = { events: [{ customerId: customer.id, meter: 'api_calls', quantity: 7, idempotencyKey: 'order-1' }] };
    const ingest = (url: string) => call('POST', `${url}/v1/events`, { bearer: TEST_ADMIN_TOKEN, body });
    const original = await ingest(first.url);
    expect(original.status).toBe(200);
    expect((original.body as { results: Array<{ status: string }> }).results[0].status).toBe('accepted');
    for (const url of [first.url, second.url]) {
      const again = await ingest(url);
      expect((again.body as { results: Array<{ status: string }> }).results[0].status).toBe('duplicate');
    }
    await until(async () => (await ledgerOf(customer.id)).rows >= 1, 'the event in the ledger');
    await sleep(200);
    expect(await ledgerOf(customer.id)).toEqual({ counter: 7, rows: 1, distinctKeys: 1 });
  });

  it('reports the transport, its lag and redeliveries on /health/ready and /metrics', async () => {
    const ready = await call('GET', `${first.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect((ready.body as { info: { ingest: unknown } }).info.ingest).toMatchObject({ status: 'up', transport: 'jetstream', connected: true, path: 'jetstream', pending: 0 });
    const metrics = await call('GET', `${first.url}/metrics`);
    const text = String(metrics.body);
    expect(text).toMatch(/^tollgate_ingest_jetstream_connected 1$/m);
    expect(text).toMatch(/^tollgate_ingest_stream_pending 0$/m);
    expect(text).toMatch(/^tollgate_ingest_stream_redelivered \d+$/m);
  });
});
