import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TollgateConfig } from '../../src/config/tollgate-config.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';
import { ledgerSnapshot, spoolFiles, waitUntil } from './durability-support.js';
import { flakyPglite, type Outage, startPostgresProxy } from './outage.js';

/**
 * The database is down and the spool cannot take the events either (its size cap is reached, or the disk refuses
 * the write): metered requests answer 503 `usage_unavailable` with Retry-After, never 2xx unrecorded and never
 * 500. What was answered 2xx is in the ledger once the database is back; what was answered 503 is not.
 */
describe('metering while the database is down and the spool cannot take more', () => {
  let database: TestDatabase;
  let outage: Outage;
  let databaseUrl: string | null = null;
  let embedded: TestDatabase['embedded'] = null;
  let service: TestApp | null = null;
  let config: TollgateConfig | null = null;
  const restore: Array<() => void> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    if (database.databaseUrl) {
      const proxy = await startPostgresProxy(database.databaseUrl);
      outage = proxy;
      databaseUrl = proxy.databaseUrl;
    } else {
      const flaky = flakyPglite(database.embedded!.pglite);
      outage = flaky;
      embedded = { pglite: flaky.pglite, closeOnShutdown: false };
    }
  });

  afterEach(async () => {
    outage.start();
    while (restore.length > 0) restore.pop()!();
    await service?.close();
    service = null;
    if (config) rmSync(config.dataDir, { recursive: true, force: true });
    config = null;
  });

  afterAll(async () => {
    await outage?.close();
    await database?.dispose();
  });

  async function start(overrides: Partial<TollgateConfig> = {}, prepare?: (dataDir: string) => void) {
    config = testConfig(database, { ...(databaseUrl && { databaseUrl }), ...overrides });
    prepare?.(config.dataDir);
    service = await startTestApp({ ...database, embedded }, { config });
    const admin = new AdminClient(service.url);
    const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 100_000_000, rateLimit: ['1000000/min'] } });
    const { secret } = await admin.createKey(customer.id);
    const echo = (key: string) =>
      call('GET', `${service!.url}/v1/basic/echo`, { apiKey: secret, headers: { 'idempotency-key': key } });
    return { customerId: customer.id, secret, echo, app: service };
  }

  /**
   * Makes `dir` refuse new files. chmod is enough for a normal user; root ignores it, so there the directory is
   * made immutable (chattr +i; ext4/xfs, CAP_LINUX_IMMUTABLE).
   */
  function makeUnwritable(dir: string): void {
    chmodSync(dir, 0o555);
    restore.push(() => chmodSync(dir, 0o755));
    try {
      writeFileSync(join(dir, '.probe'), '');
    } catch {
      return;
    }
    rmSync(join(dir, '.probe'));
    execFileSync('chattr', ['+i', dir]);
    restore.push(() => execFileSync('chattr', ['-i', dir]));
  }

  it('answers 503 with Retry-After once the spool reaches TOLLGATE_SPOOL_MAX_BYTES; what was answered 2xx is replayed', async () => {
    // Room for a few events (each ~350 bytes); the default is 1 GiB.
    const { customerId, echo, app } = await start({ spoolMaxBytes: 2048, demo: true });
    expect((await echo('warm-up')).status).toBe(200);
    const ingestOne = (idempotencyKey: string) =>
      call('POST', `${app.url}/v1/events`, {
        bearer: TEST_ADMIN_TOKEN,
        body: { events: [{ customerId, meter: 'api_calls', quantity: 1, idempotencyKey }] },
      });
    expect((await ingestOne('ingested-before')).status).toBe(200);

    outage.stop();
    const statuses = new Map<string, { status: number; retryAfter: string | null; error?: string }>();
    for (let n = 0; n < 12; n++) {
      const response = await echo(`full-${n}`);
      statuses.set(`full-${n}`, { status: response.status, retryAfter: response.headers.get('retry-after'), error: response.body?.error });
    }
    const ingest = await ingestOne('ingested-while-full');
    const acked = [...statuses].filter(([, outcome]) => outcome.status === 200).map(([key]) => key);
    const refused = [...statuses].filter(([, outcome]) => outcome.status !== 200);
    expect(acked.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const [, outcome] of refused) expect(outcome).toEqual({ status: 503, retryAfter: '5', error: 'usage_unavailable' });
    // Once full, it stays full while the database is down: no 2xx after the first 503.
    const order = [...statuses.values()].map((outcome) => outcome.status);
    expect(order.indexOf(503)).toBe(acked.length);
    expect({ status: ingest.status, error: ingest.body?.error, retryAfter: ingest.headers.get('retry-after') }).toEqual({
      status: 503,
      error: 'usage_unavailable',
      retryAfter: '5',
    });
    expect(readdirSync(join(config!.dataDir, 'spool')).filter((name) => name.endsWith('.tmp'))).toEqual([]);

    outage.start();
    await waitUntil(() => spoolFiles(config!.dataDir).length === 0, 15_000, () => `spool not replayed: ${spoolFiles(config!.dataDir).join(', ')}`);
    const ledger = await ledgerSnapshot(database.query, customerId);
    for (const key of acked) expect({ key, rows: ledger.keys.get(`idem:${key}`) }).toEqual({ key, rows: 1 });
    for (const [key] of refused) expect({ key, rows: ledger.keys.get(`idem:${key}`) }).toEqual({ key, rows: undefined });
    expect(ledger.mismatches).toEqual([]);
    // The database is back: served (and recorded) again.
    expect((await echo('after-replay')).status).toBe(200);
  });

  it('answers 503 with Retry-After when the disk refuses the spool write (read-only), and acknowledges nothing unrecorded', async () => {
    const { customerId, echo, app } = await start({ demo: true });
    expect((await echo('warm-up')).status).toBe(200);
    const spoolDir = join(config!.dataDir, 'spool');
    makeUnwritable(spoolDir);

    outage.stop();
    const responses = await Promise.all(Array.from({ length: 8 }, (_, n) => echo(`ro-${n}`)));
    for (const response of responses) {
      expect({ status: response.status, retryAfter: response.headers.get('retry-after'), error: response.body?.error }).toEqual({
        status: 503,
        retryAfter: '5',
        error: 'usage_unavailable',
      });
    }
    expect(readdirSync(spoolDir).filter((name) => name !== 'failed')).toEqual([]);
    expect(app.logs.text).toContain('usage cannot be spooled');

    outage.start();
    while (restore.length > 0) restore.pop()!();
    expect((await echo('after')).status).toBe(200);
    const ledger = await ledgerSnapshot(database.query, customerId);
    expect([...ledger.keys.keys()].filter((key) => key.startsWith('idem:ro-'))).toEqual([]);
  });

  it('removes half-written spool batches (.tmp) left by a crash when it starts', async () => {
    const orphan = '.000001764000000000-deadbeef.jsonl.tmp';
    await start({ demo: true }, (dataDir) => {
      mkdirSync(join(dataDir, 'spool'), { recursive: true });
      writeFileSync(join(dataDir, 'spool', orphan), '{"customerId":"cus_half-writ');
    });
    expect(existsSync(join(config!.dataDir, 'spool', orphan))).toBe(false);
    expect(readdirSync(join(config!.dataDir, 'spool')).sort()).toEqual(['failed']);
  });
});
