import { rmSync } from 'node:fs';
import type { TollgateConfig } from '../../src/config/tollgate-config.js';
import { type LedgerEvent, UsageLedger } from '../../src/metering/usage-ledger.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { describeStatuses, expectLedgerHonours, ledgerSnapshot, sleep, spoolFiles, startLoad, waitUntil } from './durability-support.js';

/**
 * Graceful shutdown (what SIGTERM triggers: `app.close()`) under load: requests in flight finish, and every
 * one answered 2xx — including those answered after shutdown began — has its event in the ledger once
 * `close()` returns, written to the database (not left in the spool). The ledger is slowed down a little so
 * that, when the shutdown starts, batches are in flight and events are queued: the ingestor's drain has work.
 *
 * In `durable` mode each response already waited for its event; in `async` mode responses do not wait, so
 * only the ingestor's final drain stands between a 2xx and a lost event.
 */
const CONCURRENCY = 32;

describe('metering across a graceful shutdown', () => {
  let database: TestDatabase;
  let config: TollgateConfig | null = null;
  let service: TestApp | null = null;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterEach(async () => {
    await service?.close();
    service = null;
    if (config) rmSync(config.dataDir, { recursive: true, force: true });
    config = null;
  });

  afterAll(async () => {
    await database?.dispose();
  });

  it.each(['durable', 'async'] as const)(
    'writes every acknowledged event before app.close() returns (%s metering)',
    async (meteringMode) => {
      config = testConfig(database, { demo: true, meteringMode });
      const app = (service = await startTestApp(database, { config }));
      const admin = new AdminClient(app.url);
      const customer = await admin.createCustomer('enterprise', { overrides: { includedCalls: 100_000_000, rateLimit: ['1000000/min'] } });
      const { secret } = await admin.createKey(customer.id);

      // A slower database: each batch takes 20-80 ms more, so events queue up behind the batches in flight.
      const ledger = app.app.get(UsageLedger);
      const insertBatch = ledger.insertBatch.bind(ledger);
      let writing = 0;
      ledger.insertBatch = async (events: LedgerEvent[]) => {
        writing++;
        try {
          await sleep(20 + Math.random() * 60);
          return await insertBatch(events);
        } finally {
          writing--;
        }
      };

      let closing = false;
      const load = startLoad({ url: `${app.url}/v1/basic/echo`, apiKey: secret, concurrency: CONCURRENCY, whileFlag: () => closing });
      const atClose = { inFlight: 0, writing: 0 };
      try {
        await waitUntil(() => load.stats.acked.size >= 100, 30_000, () => `no load got through: ${describeStatuses(load.stats)}`);
        // Close at a moment when batches are being written and most loops wait for an answer.
        await waitUntil(() => writing > 0 && load.stats.inFlight >= CONCURRENCY / 2, 10_000, () => 'never busy', 1);
        atClose.inFlight = load.stats.inFlight;
        atClose.writing = writing;
        closing = true;
        service = null;
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('app.close() did not return within 20 s')), 20_000);
        });
        try {
          await Promise.race([app.close(), timeout]);
        } finally {
          clearTimeout(timer);
        }
      } finally {
        await load.stop();
      }
      // Read the ledger as close() left it: nothing may still be on its way.
      const snapshot = await ledgerSnapshot(database.query, customer.id);

      if (process.env.DURABILITY_VERBOSE) {
        process.stderr.write(
          `${meteringMode}: statuses: ${describeStatuses(load.stats)}; at close: ${atClose.inFlight} requests in flight, ${atClose.writing} batches being written; ` +
            `${load.stats.ackedWhileFlag.size} answered 2xx after close() began; ledger ${snapshot.eventCount} events\n`,
        );
      }
      expect(atClose.inFlight).toBeGreaterThan(0);
      // A batch was being written when close() was called: in async mode its requests were already answered,
      // so only the drain stands between them and loss; in durable mode its requests were still waiting,
      // and were answered during the shutdown (requests sent on keep-alive connections the server was just
      // closing may fail without an answer: never processed, never promised).
      expect(atClose.writing).toBeGreaterThan(0);
      if (meteringMode === 'durable') expect(load.stats.ackedWhileFlag.size).toBeGreaterThan(0);
      // Written to the database, nothing left behind in the spool.
      expect(spoolFiles(config.dataDir)).toEqual([]);
      expectLedgerHonours(snapshot, load.stats);
      expect(snapshot.eventCount).toBeGreaterThanOrEqual(load.stats.acked.size);
    },
    60_000,
  );
});
