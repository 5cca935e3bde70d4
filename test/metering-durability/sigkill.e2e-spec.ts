import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPglite } from '../../src/database/pglite.driver.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase, usingRealPostgres } from '../support/database.js';
import { checkedFetch } from '../support/http.js';
import { type ServiceProcess, spawnService, waitForReady } from '../support/service-process.js';
import {
  describeStatuses,
  expectLedgerHonours,
  freePort,
  ledgerSnapshot,
  type LedgerSnapshot,
  type LoadStats,
  quarantinedFiles,
  sleep,
  spoolFiles,
  startLoad,
  waitUntil,
} from './durability-support.js';
import { type Outage, startPostgresProxy } from './outage.js';

/**
 * The hardest crash: SIGKILL under load, no shutdown hook runs. Every 2xx the service sent must still be
 * in the ledger after a restart on the same database (and data dir, for the spool), exactly once, with
 * counters equal to the ledger. Requests in flight at the kill may or may not have been recorded.
 */
const ADMIN_TOKEN = `durability-admin-${randomBytes(8).toString('hex')}`;
const ROUNDS = 2;
const CONCURRENCY = 24;

describe('metering survives SIGKILL under load', () => {
  let database: TestDatabase | null = null;
  let dataDir: string;
  let proxy: (Outage & { databaseUrl: string }) | null = null;
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    if (usingRealPostgres) database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-sigkill-'));
  });

  afterAll(async () => {
    await proxy?.close();
    for (const service of services) {
      if (service.child.exitCode === null && service.child.signalCode === null) {
        service.child.kill('SIGKILL');
        await service.exited;
      }
    }
    await database?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(options: { databaseUrl?: string; dir?: string } = {}): Promise<{ service: ServiceProcess; url: string }> {
    const port = await freePort();
    const env: Record<string, string> = {
      PORT: String(port),
      ADMIN_TOKEN,
      TOLLGATE_DEMO: 'true',
      TOLLGATE_DATA_DIR: options.dir ?? dataDir,
      TOLLGATE_TIERS: new URL('../../tiers.yaml', import.meta.url).pathname,
      LOG_LEVEL: 'warn',
    };
    if (database) Object.assign(env, { DATABASE_URL: options.databaseUrl ?? database.databaseUrl, DATABASE_SCHEMA: database.schema });
    if (process.env.REDIS_URL) Object.assign(env, { REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: `sigkill-${randomBytes(4).toString('hex')}` });
    const service = spawnService(env);
    services.push(service);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForReady(url, 60_000);
    } catch (error) {
      service.child.kill('SIGKILL');
      throw new Error(`the service did not become ready (${(error as Error).message}); its output:\n${service.output().slice(-4000)}`, {
        cause: error,
      });
    }
    return { service, url };
  }

  /** The ledger as the service left it: on Postgres directly; embedded, by opening its data dir once it has exited. */
  async function snapshot(customerId: string): Promise<LedgerSnapshot> {
    if (database) return ledgerSnapshot(database.query, customerId);
    const pglite = await openPglite(join(dataDir, 'pg'));
    try {
      return await ledgerSnapshot(async <T>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params)).rows, customerId);
    } finally {
      await pglite.close();
    }
  }

  it(
    'keeps every acknowledged event exactly once, with counters equal to the ledger',
    async () => {
      let { service, url } = await start();
      const admin = new AdminClient(url, ADMIN_TOKEN);
      const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 100_000_000, rateLimit: ['1000000/min'] } });
      const { secret } = await admin.createKey(customer.id);

      const all: LoadStats = { sent: new Set(), acked: new Set(), statuses: new Map(), ackedWhileFlag: new Set(), inFlight: 0 };
      const merge = (stats: LoadStats) => {
        for (const key of stats.sent) all.sent.add(key);
        for (const key of stats.acked) all.acked.add(key);
        for (const [status, n] of stats.statuses) all.statuses.set(status, (all.statuses.get(status) ?? 0) + n);
      };
      const rounds: string[] = [];

      for (let round = 1; round <= ROUNDS; round++) {
        const load = startLoad({ url: `${url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY });
        // Let the load reach its stride (at least some acknowledged requests), then kill at a random point 1-2 s in.
        await waitUntil(() => load.stats.acked.size >= 50, 20_000, () => `no load got through: ${describeStatuses(load.stats)}\n${service.output().slice(-2000)}`);
        await sleep(1000 + Math.random() * 1000);
        const inFlightAtKill = load.stats.inFlight;
        service.child.kill('SIGKILL');
        const exit = await service.exited;
        const stats = await load.stop();
        merge(stats);
        expect(exit.signal).toBe('SIGKILL');
        // Killed mid-load: requests were waiting for answers (some may be recorded without one: allowed).
        expect(inFlightAtKill).toBeGreaterThan(0);
        rounds.push(`round ${round}: ${stats.acked.size} acknowledged, ${inFlightAtKill} in flight at the kill, ${stats.sent.size} sent (${describeStatuses(stats)}), spool at kill: ${spoolFiles(dataDir).length}`);
        ({ service, url } = await start());
      }

      // The restarted service works, and replays whatever was spooled before the kill.
      const probeKey = `dur-probe-${randomBytes(4).toString('hex')}`;
      all.sent.add(probeKey);
      const probe = await checkedFetch(`${url}/v1/basic/echo`, { headers: { 'x-api-key': secret, 'idempotency-key': probeKey } });
      expect(probe.status).toBe(200);
      all.acked.add(probeKey);
      await waitUntil(() => spoolFiles(dataDir).length === 0, 20_000, () => `spool not replayed: ${spoolFiles(dataDir).join(', ')}`);
      service.child.kill('SIGTERM');
      await service.exited;

      const ledger = await snapshot(customer.id);
      // How much was acknowledged vs recorded, per round: printed on failure (or always, with DURABILITY_VERBOSE).
      const summary = `${rounds.join('\n')}\nledger: ${ledger.eventCount} events, sum ${ledger.ledgerSum}, counters ${ledger.counterSum}; acknowledged ${all.acked.size}`;
      if (process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
      try {
        expect(quarantinedFiles(dataDir)).toEqual([]);
        expectLedgerHonours(ledger, all);
        // Each echo costs 1: the ledger holds at least every acknowledged request (maybe some unanswered ones).
        expect(ledger.eventCount).toBeGreaterThanOrEqual(all.acked.size);
        expect(ledger.ledgerSum).toBe(ledger.eventCount);
      } catch (error) {
        if (!process.env.DURABILITY_VERBOSE) process.stderr.write(`${summary}\n`);
        throw error;
      }
    },
    180_000,
  );

  // Embedded, the database lives inside the service process and cannot be cut off from outside; what can be
  // proven there is the other half: spool files left by a killed process are replayed, once, at the next start.
  if (!usingRealPostgres) {
    it('replays spool files a killed embedded service left behind, counting each event once', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-sigkill-spool-'));
      try {
        let { service, url } = await start({ dir });
        const admin = new AdminClient(url, ADMIN_TOKEN);
        const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 100_000_000, rateLimit: ['1000000/min'] } });
        const { secret } = await admin.createKey(customer.id);
        const recorded = `dur-recorded-${randomBytes(4).toString('hex')}`;
        expect((await checkedFetch(`${url}/v1/basic/echo`, { headers: { 'x-api-key': secret, 'idempotency-key': recorded } })).status).toBe(200);
        service.child.kill('SIGKILL');
        await service.exited;

        // What a killed process leaves when the database was away: fsync'd batches, one of them overlapping
        // an event that did reach the ledger (a crash between insert and unlink).
        const { UsageSpool } = await import('../../src/metering/usage-spool.js');
        const { calendarMonth } = await import('../../src/metering/billing-period.js');
        const period = calendarMonth(new Date());
        const spool = new UsageSpool(join(dir, 'spool'));
        const event = (key: string) => ({
          customerId: customer.id,
          meter: 'api_calls',
          quantity: 1,
          idempotencyKey: `idem:${key}`,
          occurredAt: new Date(),
          periodStart: period.start,
          periodEnd: period.end,
          properties: null,
        });
        const spooledKeys = Array.from({ length: 25 }, (_, i) => `dur-spooled-${i}`);
        await spool.write(spooledKeys.slice(0, 15).map(event));
        await spool.write([...spooledKeys.slice(10).map(event), event(recorded)]);

        ({ service, url } = await start({ dir }));
        await waitUntil(() => spoolFiles(dir).length === 0, 20_000, () => `spool not replayed: ${spoolFiles(dir).join(', ')}`);
        service.child.kill('SIGTERM');
        await service.exited;

        const pglite = await openPglite(join(dir, 'pg'));
        try {
          const ledger = await ledgerSnapshot(async <T>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params)).rows, customer.id);
          const acked = new Set([recorded, ...spooledKeys]);
          expectLedgerHonours(ledger, { sent: acked, acked });
          expect(ledger.eventCount).toBe(26);
          expect(ledger.counterSum).toBe(26);
          expect(quarantinedFiles(dir)).toEqual([]);
        } finally {
          await pglite.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  }

  // On real Postgres the database can be cut off: the spool is written under load, then the process is killed.
  if (usingRealPostgres) {
  it(
    'keeps events spooled while the database is down through a SIGKILL, and replays them at the next start (real Postgres)',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tollgate-sigkill-spool-'));
      try {
        proxy = await startPostgresProxy(database!.databaseUrl!);
        let { service, url } = await start({ databaseUrl: proxy.databaseUrl, dir });
        const admin = new AdminClient(url, ADMIN_TOKEN);
        const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 100_000_000, rateLimit: ['1000000/min'] } });
        const { secret } = await admin.createKey(customer.id);

        const outage = proxy;
        const load = startLoad({ url: `${url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY, whileFlag: () => outage.down });
        await waitUntil(() => load.stats.acked.size >= 50, 20_000, () => `no load got through: ${describeStatuses(load.stats)}`);
        outage.stop();
        // Answered from the spool for a moment (within the quota cache's life), then killed with the spool on disk.
        await waitUntil(() => load.stats.ackedWhileFlag.size >= 20 && spoolFiles(dir).length > 0, 10_000, () => `nothing spooled: ${describeStatuses(load.stats)}`);
        const spooledAtKill = spoolFiles(dir).length;
        service.child.kill('SIGKILL');
        expect((await service.exited).signal).toBe('SIGKILL');
        const stats = await load.stop();
        expect(spooledAtKill).toBeGreaterThan(0);

        outage.start();
        ({ service, url } = await start({ databaseUrl: proxy.databaseUrl, dir }));
        await waitUntil(() => spoolFiles(dir).length === 0, 20_000, () => `spool not replayed after the restart: ${spoolFiles(dir).join(', ')}`);
        service.child.kill('SIGTERM');
        await service.exited;

        const ledger = await ledgerSnapshot(database!.query, customer.id);
        if (process.env.DURABILITY_VERBOSE) {
          process.stderr.write(
            `spool case: ${stats.acked.size} acknowledged (${stats.ackedWhileFlag.size} while down), ${spooledAtKill} spool files at the kill; ` +
              `ledger ${ledger.eventCount} events, counters ${ledger.counterSum}\n`,
          );
        }
        expect(quarantinedFiles(dir)).toEqual([]);
        expectLedgerHonours(ledger, stats);
        expect(ledger.eventCount).toBeGreaterThanOrEqual(stats.acked.size);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
  }
});
