import type { INestApplication } from '@nestjs/common';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { EventEmitter2 } from '@nestjs/event-emitter';
import {
  ApiKeysService,
  QUOTA_EXCEEDED,
  QuotaGuard,
  USAGE_RECORDED,
  USAGE_THRESHOLD_CROSSED,
  type UsageRecordedEvent,
  type UsageThresholdCrossedEvent,
} from 'tollgate';
import { attachConsumer } from '../../src/api-keys/consumer.js';
import type { TollgateConfig } from '../../src/config/tollgate-config.js';
import { ticketOf } from '../../src/metering/metering.request.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, type CallResult } from '../support/http.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { ExactnessProbeController, ExactnessProbeModule } from './exactness-probe.module.js';
import { sleep } from '../support/wait.js';

/**
 * Exactness of metering under concurrency, over HTTP: retries racing their originals, many requests crossing
 * alert thresholds in the same instant, and two instances writing one customer's counter. The counter must
 * equal the ledger, the ledger must hold one event per idempotency key, and each alert must happen once.
 */

const PROBE = '/v1/exactness-probe';
const UNLIMITED = { includedCalls: 100_000_000, rateLimit: ['10000000/min'] };

/** A small deterministic PRNG, so a failure replays the same launch order. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}


async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Everything an app's EventEmitter2 says about one customer's usage, from now on. */
function listen(app: INestApplication, customerId: string) {
  const emitter = app.get(EventEmitter2);
  const seen = {
    recorded: [] as UsageRecordedEvent[],
    thresholds: [] as UsageThresholdCrossedEvent[],
    exceeded: [] as UsageThresholdCrossedEvent[],
  };
  const onRecorded = (event: UsageRecordedEvent) => event.customerId === customerId && seen.recorded.push(event);
  const onThreshold = (event: UsageThresholdCrossedEvent) => event.customerId === customerId && seen.thresholds.push(event);
  const onExceeded = (event: UsageThresholdCrossedEvent) => event.customerId === customerId && seen.exceeded.push(event);
  emitter.on(USAGE_RECORDED, onRecorded);
  emitter.on(USAGE_THRESHOLD_CROSSED, onThreshold);
  emitter.on(QUOTA_EXCEEDED, onExceeded);
  return {
    seen,
    stop: () => {
      emitter.off(USAGE_RECORDED, onRecorded);
      emitter.off(USAGE_THRESHOLD_CROSSED, onThreshold);
      emitter.off(QUOTA_EXCEEDED, onExceeded);
    },
  };
}

/**
 * The counter moves announced (usage.recorded: total − delta → total), from any number of instances, must tile
 * 0 → final exactly: no commit announced twice or lost, and so every threshold lies in exactly one step.
 */
function expectStepsTile(recorded: UsageRecordedEvent[], final: number): void {
  const steps = recorded.map((event) => [Number(event.total) - Number(event.delta), Number(event.total)]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0;
  for (const [before, after] of steps) {
    expect([before, after]).toEqual([at, after]);
    at = after;
  }
  expect(at).toBe(final);
}

describe('metering exactness under concurrency', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  let firstConfig: TollgateConfig;

  const get = (url: string, apiKey: string, idempotencyKey?: string): Promise<CallResult> =>
    call('GET', `${url}${PROBE}`, { apiKey, headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} });

  /** The counter (all periods) and the ledger of one customer, read straight from the database. */
  async function ledgerOf(customerId: string) {
    const [counter] = await database.query<{ total: string | null }>('SELECT sum(total)::text AS total FROM usage_counters WHERE customer_id = $1', [
      customerId,
    ]);
    const [events] = await database.query<{ rows: string; quantity: string | null; keys: string }>(
      'SELECT count(*)::text AS rows, sum(quantity)::text AS quantity, count(DISTINCT idempotency_key)::text AS keys FROM usage_events WHERE customer_id = $1',
      [customerId],
    );
    return { counter: Number(counter.total ?? 0), rows: Number(events.rows), quantity: Number(events.quantity ?? 0), distinctKeys: Number(events.keys) };
  }

  async function alertsOf(customerId: string) {
    return database.query<{ kind: string; threshold: number }>(
      'SELECT kind, threshold FROM usage_alerts WHERE customer_id = $1 ORDER BY kind, threshold',
      [customerId],
    );
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    firstConfig = testConfig(database);
    service = await startTestApp(database, { config: firstConfig, imports: [ExactnessProbeModule] });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service?.close();
    await database?.dispose();
  });

  it('counts 1 000 concurrent requests, 10 % of them retries racing their original, once per idempotency key', async () => {
    const customer = await admin.createCustomer('enterprise', { overrides: UNLIMITED });
    const { secret } = await admin.createKey(customer.id);
    const listener = listen(service.app, customer.id);

    // 900 originals, each with its own Idempotency-Key, and 100 client retries reusing an original's key:
    // 50 launched right behind their original (they race it), 50 launched a random while later.
    const random = prng(20261123);
    const launches: Array<{ at: number; key: string; retry: boolean }> = [];
    for (let i = 0; i < 900; i++) launches.push({ at: i * 10, key: `orig-${i}`, retry: false });
    for (let i = 0; i < 50; i++) launches.push({ at: i * 10 + 1, key: `orig-${i}`, retry: true });
    for (let r = 0; r < 50; r++) {
      const original = 50 + r * 17;
      launches.push({ at: original * 10 + 10 * (1 + Math.floor(random() * 200)) + 5, key: `orig-${original}`, retry: true });
    }
    launches.sort((a, b) => a.at - b.at);
    expect(launches).toHaveLength(1000);
    expect(launches.filter((launch) => launch.retry)).toHaveLength(100);

    const responses = await Promise.all(launches.map((launch) => get(service.url, secret, launch.key)));
    listener.stop();

    const succeeded = new Set(launches.filter((_, i) => responses[i].status >= 200 && responses[i].status < 300).map((launch) => launch.key));
    expect(responses.filter((response) => response.status !== 200).map((response) => response.status)).toEqual([]);
    expect(succeeded.size).toBe(900);

    // Durable metering: every 2xx was committed before it was sent, so the ledger is final now.
    const ledger = await ledgerOf(customer.id);
    expect(ledger).toEqual({ counter: succeeded.size, rows: succeeded.size, quantity: succeeded.size, distinctKeys: succeeded.size });
    const keys = await database.query<{ idempotency_key: string }>('SELECT idempotency_key FROM usage_events WHERE customer_id = $1', [customer.id]);
    expect(new Set(keys.map((row) => row.idempotency_key))).toEqual(new Set([...succeeded].map((key) => `idem:${key}`)));
    expectStepsTile(listener.seen.recorded, succeeded.size);
  });

  it('raises each threshold alert and quota.exceeded exactly once when 200 concurrent requests cross them together', async () => {
    const customer = await admin.createCustomer('pro', { overrides: { includedCalls: 100, rateLimit: ['10000000/min'] } });
    const { secret } = await admin.createKey(customer.id);
    const listener = listen(service.app, customer.id);

    // 70 of 100 used: below the first threshold (80 %).
    const prefill = await admin.request('POST', '/v1/events', {
      events: Array.from({ length: 7 }, (_, i) => ({ customerId: customer.id, quantity: 10, idempotencyKey: `prefill-${i}` })),
    });
    expect(prefill.body).toMatchObject({ accepted: 7, duplicates: 0, rejected: 0 });
    expect((await ledgerOf(customer.id)).counter).toBe(70);

    const responses = await Promise.all(Array.from({ length: 200 }, () => get(service.url, secret)));
    expect(responses.filter((response) => response.status !== 200).map((response) => response.status)).toEqual([]);
    expect(await ledgerOf(customer.id)).toEqual({ counter: 270, rows: 207, quantity: 270, distinctKeys: 207 });

    // Alerts are raised after the commit, off the request path: wait for all four, then a while longer for any duplicate.
    await waitFor(async () => (await alertsOf(customer.id)).length >= 4 && listener.seen.thresholds.length >= 3 && listener.seen.exceeded.length >= 1, 'the alerts');
    await sleep(500);
    listener.stop();

    expect(await alertsOf(customer.id)).toEqual([
      { kind: 'quota_exceeded', threshold: 100 },
      { kind: 'threshold', threshold: 80 },
      { kind: 'threshold', threshold: 100 },
      { kind: 'threshold', threshold: 120 },
    ]);
    expect(listener.seen.thresholds.map((event) => event.threshold).sort((a, b) => a - b)).toEqual([80, 100, 120]);
    expect(listener.seen.exceeded).toHaveLength(1);
    expectStepsTile(listener.seen.recorded, 270);
    // Each alert was raised by the commit that crossed it, carrying that commit's total.
    for (const event of [...listener.seen.thresholds, ...listener.seen.exceeded]) {
      expect(event).toMatchObject({ included: 100, policy: 'overage' });
      expect(event.total).toBeGreaterThanOrEqual(event.threshold);
      expect(event.total).toBeLessThanOrEqual(270);
    }
  });

  it('admits exactly the included quantity when a burst of requests reaches the quota guard in the same tick', async () => {
    // Over HTTP this happens when many requests resume together (a shared key lookup, one Redis reply chunk):
    // here 50 requests enter QuotaGuard in one tick, deterministically. Block policy, 10 included.
    const customer = await admin.createCustomer('free', { overrides: { includedCalls: 10, rateLimit: ['1000/min'] } });
    const { secret } = await admin.createKey(customer.id);
    const authentication = await service.app.get(ApiKeysService).authenticate(secret);
    if ('rejection' in authentication) throw new Error(`the new key was refused: ${authentication.rejection}`);
    const guard = service.app.get(QuotaGuard);
    const burst = async () => {
      const requests = Array.from({ length: 50 }, () => {
        const request = { method: 'GET', path: PROBE, headers: {}, header: () => undefined };
        attachConsumer(request, authentication.consumer);
        const response = { headersSent: false, setHeader: () => undefined };
        const context = new ExecutionContextHost([request, response, () => undefined], ExactnessProbeController, ExactnessProbeController.prototype.probe);
        context.setType('http');
        return { request, admitted: new Promise<boolean>((resolve) => resolve(guard.canActivate(context))).then(() => true, (error: { getStatus?: () => number }) => error.getStatus?.() ?? error) };
      });
      const outcomes = await Promise.all(requests.map((entry) => entry.admitted));
      const tickets = requests.map((entry) => ticketOf(entry.request)).filter((ticket) => ticket !== undefined);
      return { outcomes, tickets };
    };

    // Cold (the total is read from the database) and warm (cached total): 10 admitted each time, the rest 429.
    const cold = await burst();
    expect(cold.outcomes.filter((outcome) => outcome === true)).toHaveLength(10);
    expect(cold.outcomes.filter((outcome) => outcome === 429)).toHaveLength(40);
    // Nothing was recorded: dropping the reservations frees the quota again.
    for (const ticket of cold.tickets) ticket.release();
    const warm = await burst();
    expect(warm.outcomes.filter((outcome) => outcome === true)).toHaveLength(10);
    expect(warm.outcomes.filter((outcome) => outcome === 429)).toHaveLength(40);
    for (const ticket of warm.tickets) ticket.release();
  });

  it('keeps one counter exact when two instances on one database take 500 concurrent requests each', async () => {
    // Shares the database (in embedded mode the one PGlite) and the Redis prefix; its own spool directory.
    const second = await startTestApp(database, { config: testConfig(database, { redisPrefix: firstConfig.redisPrefix }), imports: [ExactnessProbeModule] });
    try {
      // Included 800: the 950 calls below cross 80 % (640) and 100 % (800) on whichever instance, not 120 % (960).
      const customer = await admin.createCustomer('pro', { overrides: { includedCalls: 800, rateLimit: ['10000000/min'] } });
      const { secret } = await admin.createKey(customer.id);
      const listeners = [listen(service.app, customer.id), listen(second.app, customer.id)];

      // Each instance: 450 requests without a key (each is its own event) and 50 with keys the other instance
      // also receives (a retry that landed on another instance): 950 distinct events.
      const plan = (url: string) => [
        ...Array.from({ length: 450 }, () => () => get(url, secret)),
        ...Array.from({ length: 50 }, (_, i) => () => get(url, secret, `shared-${i}`)),
      ];
      const random = prng(7);
      const shuffle = <T>(items: T[]) => items.map((item) => ({ item, order: random() })).sort((a, b) => a.order - b.order).map(({ item }) => item);
      const requests = [...shuffle(plan(service.url)), ...shuffle(plan(second.url))];
      const responses = await Promise.all(shuffle(requests).map((send) => send()));
      expect(responses.filter((response) => response.status !== 200).map((response) => response.status)).toEqual([]);

      expect(await ledgerOf(customer.id)).toEqual({ counter: 950, rows: 950, quantity: 950, distinctKeys: 950 });
      const shared = await database.query<{ count: string }>(
        `SELECT count(*)::text AS count FROM usage_events WHERE customer_id = $1 AND idempotency_key LIKE 'idem:shared-%'`,
        [customer.id],
      );
      expect(shared[0].count).toBe('50');
      // Both instances' announced counter moves together tile the counter.
      expectStepsTile(listeners.flatMap((listener) => listener.seen.recorded), 950);

      // Alerts across both instances: each once, whichever instance's commit crossed it.
      await waitFor(
        async () =>
          (await alertsOf(customer.id)).length >= 3 &&
          listeners.flatMap((listener) => listener.seen.thresholds).length >= 2 &&
          listeners.flatMap((listener) => listener.seen.exceeded).length >= 1,
        'the alerts',
      );
      await sleep(500);
      for (const listener of listeners) listener.stop();
      expect(await alertsOf(customer.id)).toEqual([
        { kind: 'quota_exceeded', threshold: 100 },
        { kind: 'threshold', threshold: 80 },
        { kind: 'threshold', threshold: 100 },
      ]);
      expect(listeners.flatMap((listener) => listener.seen.thresholds.map((event) => event.threshold)).sort((a, b) => a - b)).toEqual([80, 100]);
      expect(listeners.flatMap((listener) => listener.seen.exceeded)).toHaveLength(1);
    } finally {
      await second.close();
    }
  });
});
