import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TollgateConfig } from '../../src/config/tollgate-config.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { checkedFetch } from '../support/http.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import {
  describeStatuses,
  expectLedgerHonours,
  ledgerSnapshot,
  quarantinedFiles,
  sleep,
  spoolFiles,
  startLoad,
  waitUntil,
} from './durability-support.js';
import { flakyPglite, type Outage, startPostgresProxy } from './outage.js';

/**
 * The database goes away mid-load and comes back. Metered requests keep being answered 2xx meanwhile,
 * their events in the fsync'd spool; the spool is replayed on recovery, and the ledger ends exact:
 * every acknowledged key once, counters equal to the ledger, a spool file replayed twice counted once.
 */
const CONCURRENCY = 16;
// Longer than the quota guard's 2 s counter cache: the outage must be survived past it too.
const OUTAGE_MS = Number(process.env.DURABILITY_OUTAGE_MS ?? 3500);

describe('metering while the database is down', () => {
  let database: TestDatabase;
  let outage: Outage;
  let config: TollgateConfig;
  let service: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    if (database.databaseUrl) {
      const proxy = await startPostgresProxy(database.databaseUrl);
      outage = proxy;
      config = testConfig(database, { databaseUrl: proxy.databaseUrl, demo: true });
      service = await startTestApp(database, { config });
    } else {
      const flaky = flakyPglite(database.embedded!.pglite);
      outage = flaky;
      config = testConfig(database, { demo: true });
      service = await startTestApp({ ...database, embedded: { pglite: flaky.pglite, closeOnShutdown: false } }, { config });
    }
  });

  afterAll(async () => {
    outage?.start();
    await service?.close();
    await outage?.close();
    await database?.dispose();
    if (config) rmSync(config.dataDir, { recursive: true, force: true });
  });

  it(
    'answers from the spool while down, replays it on recovery, and ends with an exact ledger',
    async () => {
      const admin = new AdminClient(service.url);
      const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 100_000_000, rateLimit: ['1000000/min'] } });
      const { secret } = await admin.createKey(customer.id);
      const spoolDir = join(config.dataDir, 'spool');

      // Every spool file seen during the outage, with its content (read before replay removes it).
      const spooled = new Map<string, string>();
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          for (const name of spoolFiles(config.dataDir)) {
            if (spooled.has(name)) continue;
            try {
              spooled.set(name, readFileSync(join(spoolDir, name), 'utf8'));
            } catch {
              // replayed and removed between listing and reading
            }
          }
          await sleep(20);
        }
      })();

      const load = startLoad({ url: `${service.url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY, whileFlag: () => outage.down });
      let statusesWhileDown: string | undefined;
      try {
        await waitUntil(() => load.stats.acked.size >= 100, 20_000, () => `no load got through: ${describeStatuses(load.stats)}`);
        const before = new Map(load.stats.statuses);
        outage.stop();
        await sleep(OUTAGE_MS);
        const filesWhileDown = spoolFiles(config.dataDir);
        statusesWhileDown = [...load.stats.statuses].map(([status, n]) => `${status}: ${n - (before.get(status) ?? 0)}`).join(', ');
        outage.start();
        // Requests answered from the spool, and spool files on disk, while the database was down.
        expect(load.stats.ackedWhileFlag.size).toBeGreaterThan(0);
        expect(filesWhileDown.length).toBeGreaterThan(0);
        // Live traffic goes on while the spool is replayed.
        await sleep(1000);
      } finally {
        await load.stop();
      }
      await waitUntil(() => spoolFiles(config.dataDir).length === 0, 15_000, () => `spool not replayed: ${spoolFiles(config.dataDir).join(', ')}`);
      watching = false;
      await watcher;

      const spooledKeys = new Set(
        [...spooled.values()].flatMap((text) =>
          text
            .split('\n')
            .filter(Boolean)
            .map((line) => (JSON.parse(line) as { idempotencyKey: string }).idempotencyKey),
        ),
      );
      const ackedFromSpool = [...load.stats.acked].filter((key) => spooledKeys.has(`idem:${key}`));
      if (process.env.DURABILITY_VERBOSE) {
        process.stderr.write(
          `statuses: ${describeStatuses(load.stats)}; while down: ${statusesWhileDown ?? '?'}; acked while down ${load.stats.ackedWhileFlag.size}; ` +
            `${spooled.size} spool files, ${spooledKeys.size} spooled events, ${ackedFromSpool.length} acknowledged from the spool\n`,
        );
      }
      expect(ackedFromSpool.length).toBeGreaterThan(0);
      expect(quarantinedFiles(config.dataDir)).toEqual([]);
      // An outage is never a server error: requests were served from the spool (or told to retry).
      expect([...load.stats.statuses.keys()].filter((status) => Number(status) >= 500 && Number(status) !== 503)).toEqual([]);

      const after = await ledgerSnapshot(database.query, customer.id);
      expectLedgerHonours(after, load.stats);
      expect(after.eventCount).toBeGreaterThanOrEqual(load.stats.acked.size);

      // The same spool file replayed a second time (a crash between insert and unlink) counts nothing more.
      const [firstName, firstText] = [...spooled.entries()][0];
      const again = `${firstName.replace(/\.jsonl$/, '')}-again.jsonl`;
      writeFileSync(join(spoolDir, `.${again}.tmp`), firstText);
      renameSync(join(spoolDir, `.${again}.tmp`), join(spoolDir, again));
      // The file disappears a moment before its replay is logged: wait for the log line.
      await waitUntil(
        () => service.logs.text.includes(`replayed ${again}:`) || quarantinedFiles(config.dataDir).length > 0,
        15_000,
        () => `second replay did not happen: ${spoolFiles(config.dataDir).join(', ')}`,
      );
      const events = firstText.split('\n').filter(Boolean).length;
      expect(service.logs.text).toContain(`replayed ${again}: 0 new, ${events} already recorded`);
      expect(quarantinedFiles(config.dataDir)).toEqual([]);
      expect(spoolFiles(config.dataDir)).toEqual([]);
      const replayedTwice = await ledgerSnapshot(database.query, customer.id);
      expect(replayedTwice).toEqual(after);
    },
    90_000,
  );

  it('keeps serving a key whose row changed just before the outage, but never a revoked one', async () => {
    const admin = new AdminClient(service.url);
    const customer = await admin.createCustomer('pro');
    const { secret } = await admin.createKey(customer.id);
    const revoked = await admin.createKey(customer.id);
    const echo = (key: string) => checkedFetch(`${service.url}/v1/basic/echo`, { headers: { 'x-api-key': key } });
    expect((await echo(secret)).status).toBe(200);
    expect((await echo(revoked.secret)).status).toBe(200);
    // The change poll re-reads the last 2 s every 400 ms: by now it has seen both new rows (and, before the
    // fix, dropped them from the cache, so the first request after the outage found nothing to fall back on).
    await sleep(1000);
    expect((await admin.request('DELETE', `/v1/customers/${customer.id}/keys/${revoked.key.id}`)).status).toBe(200);
    outage.stop();
    try {
      expect((await echo(secret)).status).toBe(200);
      expect((await echo(revoked.secret)).status).not.toBe(200);
    } finally {
      outage.start();
    }
    expect((await echo(revoked.secret)).status).toBe(401);
  });
});
