import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { TollgateConfig } from '../config/tollgate-config.js';
import { dataSourceOptions } from '../database/data-source.options.js';
import { runMigrations } from '../database/migrate.js';
import { type IngestStatus, UsageIngestor, UsageRejectedError } from './usage-ingestor.js';
import { type BatchResult, type LedgerEvent, UsageLedger } from './usage-ledger.js';
import { UsageSpool } from './usage-spool.js';

/**
 * The group commit shares one statement between many customers' events: whatever one event holds, it is
 * refused alone (with its reason), and every other event of its batch is recorded and answered.
 */

const PERIOD_START = new Date('2026-03-01T00:00:00.000Z');
const PERIOD_END = new Date('2026-04-01T00:00:00.000Z');
const CAP = 9_007_199_254_740_991n; // the default TOLLGATE_MAX_COUNTER_TOTAL

describe('UsageIngestor: one bad event never fails the others', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let config: TollgateConfig;
  let customerNumber = 0;

  beforeAll(async () => {
    database = await createTestDatabase();
    config = TollgateConfig.create({ databaseUrl: database.databaseUrl, databaseSchema: database.schema, dataDir: mkdtempSync(join(tmpdir(), 'tollgate-ingestor-')) });
    dataSource = await new DataSource(dataSourceOptions(config, database.embedded)).initialize();
    await runMigrations(dataSource, { schema: database.schema, embedded: database.embedded !== null });
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.dispose();
  });

  async function customers(count: number): Promise<string[]> {
    const ids = Array.from({ length: count }, () => `cus_ingest_${++customerNumber}`);
    await database.query(`INSERT INTO customers (id, name, tier) SELECT id, id, 'pro' FROM unnest($1::text[]) AS id`, [ids]);
    return ids;
  }

  const event = (customerId: string, key: string, quantity = 1, properties: Record<string, unknown> | null = null): LedgerEvent => ({
    customerId,
    meter: 'api_calls',
    quantity,
    idempotencyKey: key,
    occurredAt: new Date(PERIOD_START.getTime() + 3600_000),
    periodStart: PERIOD_START,
    periodEnd: PERIOD_END,
    properties,
  });

  /** Records `events` in one turn of the event loop (so one group commit), answering each one's outcome. */
  const recordTogether = (ingestor: UsageIngestor, events: LedgerEvent[]) =>
    Promise.all(events.map((e) => ingestor.record(e).then((status: IngestStatus) => status, (error: Error) => error)));

  const counterOf = async (customerId: string) =>
    (await database.query<{ total: string }>('SELECT total::text AS total FROM usage_counters WHERE customer_id = $1', [customerId]))[0]?.total ?? '0';

  /** The real ledger, counting the statements it runs. */
  function countingLedger() {
    const ledger = new UsageLedger(dataSource, config);
    const statements: LedgerEvent[][] = [];
    const insertBatch = ledger.insertBatch.bind(ledger);
    ledger.insertBatch = (events: LedgerEvent[]) => {
      statements.push(events);
      return insertBatch(events);
    };
    return { ledger, statements };
  }

  it('refuses an event the database rejects (its customer is gone) alone, recording the rest of its batch', async () => {
    const [a, b, c] = await customers(3);
    const { ledger, statements } = countingLedger();
    const ingestor = new UsageIngestor(ledger, config);
    const outcomes = await recordTogether(ingestor, [
      ...Array.from({ length: 10 }, (_, i) => event(a, `a-${i}`, 2)),
      event('cus_vanished', 'x-1', 1),
      ...Array.from({ length: 10 }, (_, i) => event(b, `b-${i}`, 3)),
      ...Array.from({ length: 10 }, (_, i) => event(c, `c-${i}`, 5)),
    ]);
    expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(30);
    const refused = outcomes[10] as UsageRejectedError;
    expect(refused).toBeInstanceOf(UsageRejectedError);
    expect([refused.reason, refused.message]).toEqual(['refused', 'the customer does not exist']);
    expect([await counterOf(a), await counterOf(b), await counterOf(c)]).toEqual(['20', '30', '50']);
    // Halving found it: the whole batch, then two statements per level, about log2(31) levels.
    expect(statements[0]).toHaveLength(31);
    expect(statements.length).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(31)));
  });

  it('refuses quantities past TOLLGATE_MAX_EVENT_QUANTITY and unstorable text before any statement', async () => {
    const [a, b] = await customers(2);
    const { ledger, statements } = countingLedger();
    const ingestor = new UsageIngestor(ledger, config);
    const outcomes = await recordTogether(ingestor, [
      event(a, 'big', Number.MAX_SAFE_INTEGER),
      event(a, 'over', config.maxEventQuantity + 1),
      event(a, 'fraction', 1.5),
      event(a, 'nul', 1, { note: 'a\u0000b' }),
      event(a, 'surrogate', 1, { ['\ud800']: 1 }),
      event(a, 'at-cap', config.maxEventQuantity),
      event(b, 'small', 1),
    ]);
    expect(outcomes.map((outcome) => (outcome instanceof UsageRejectedError ? outcome.reason : outcome))).toEqual([
      'quantity_limit',
      'quantity_limit',
      'quantity_limit',
      'refused',
      'refused',
      'accepted',
      'accepted',
    ]);
    expect(statements.map((batch) => batch.map((e) => e.idempotencyKey))).toEqual([['at-cap', 'small']]);
    expect([await counterOf(a), await counterOf(b)]).toEqual([String(config.maxEventQuantity), '1']);
  });

  it('answers recordMany per event, in order, sharing one statement with concurrent callers and their repeats', async () => {
    const [a, b] = await customers(2);
    const { ledger, statements } = countingLedger();
    const ingestor = new UsageIngestor(ledger, config);
    await ingestor.record(event(a, 'seen', 4));
    statements.length = 0;
    // Three callers in one turn of the event loop: one group commit holds all their events.
    const [many, other, single, empty] = await Promise.all([
      ingestor.recordMany([
        event(a, 'm-1', 2),
        event(a, 'm-1', 2), // repeated within the call: a duplicate
        event(a, 'over', config.maxEventQuantity + 1), // refused alone, as an outcome
        event(a, 'seen', 4), // recorded before: a duplicate
        event(a, 'shared', 3), // also sent by `other`: whichever is queued first counts
        event(b, 'm-2', 5),
      ]),
      ingestor.recordMany([event(a, 'shared', 3), event(b, 'o-1', 1)]),
      ingestor.record(event(a, 'over-2', config.maxEventQuantity + 1)).then(
        (status) => status,
        (error: Error) => error,
      ),
      ingestor.recordMany([]),
    ]);
    const show = (outcome: unknown) => (outcome instanceof UsageRejectedError ? outcome.reason : outcome);
    expect(many.map(show)).toEqual(['accepted', 'duplicate', 'quantity_limit', 'duplicate', 'accepted', 'accepted']);
    expect(other.map(show)).toEqual(['duplicate', 'accepted']);
    // record() still rejects a refused event (the interceptor relies on it).
    expect(single).toBeInstanceOf(UsageRejectedError);
    expect(empty).toEqual([]);
    expect(statements).toHaveLength(1);
    expect([await counterOf(a), await counterOf(b)]).toEqual([String(4 + 2 + 3), '6']);
  });

  it('stops a counter at TOLLGATE_MAX_COUNTER_TOTAL, refusing only the events that do not fit, in one statement', async () => {
    const [a, b] = await customers(2);
    const { ledger, statements } = countingLedger();
    const ingestor = new UsageIngestor(ledger, config);
    const quantity = config.maxEventQuantity;
    const fill = Math.floor(Number(CAP) / quantity); // 9 007 events of 10^12 fit under 2^53 − 1
    for (let start = 0; start < fill; start += 1000) {
      const outcomes = await recordTogether(ingestor, Array.from({ length: Math.min(1000, fill - start) }, (_, i) => event(a, `fill-${start + i}`, quantity)));
      expect(outcomes.every((outcome) => outcome === 'accepted')).toBe(true);
    }
    const left = CAP - BigInt(fill) * BigInt(quantity); // 199 254 740 991
    statements.length = 0;
    const outcomes = await recordTogether(ingestor, [
      event(a, 'z-huge-1', quantity), // does not fit even alone
      event(a, 'z-small-1', 1), // fits, after a huge one: not crowded out
      event(b, 'b-1', 7),
      event(a, 'z-rest', Number(left) - 1), // exactly fills the counter
      event(a, 'z-small-2', 1), // one too many
      event(a, 'fill-0', quantity), // a retry of a counted event: a duplicate, not a refusal
    ]);
    expect(outcomes.map((outcome) => (outcome instanceof UsageRejectedError ? outcome.reason : outcome))).toEqual([
      'counter_limit',
      'accepted',
      'accepted',
      'accepted',
      'counter_limit',
      'duplicate',
    ]);
    expect(statements).toHaveLength(1);
    expect([await counterOf(a), await counterOf(b)]).toEqual([String(CAP), '7']);
    expect((outcomes[0] as UsageRejectedError).message).toContain('9007199254740991');
  });

  it('halves a failing batch down to the one event at fault, answering the innocent halves as they commit', async () => {
    const [a, b] = await customers(2);
    const real = new UsageLedger(dataSource, config);
    const calls: number[] = [];
    let answered = 0;
    const answeredAtCall: number[] = [];
    // A ledger that fails any statement holding the poisoned event, as the database does when a concurrent batch
    // has taken the counter's last units since the statement's snapshot (usage_counter_limit_exceeded).
    const ledger = {
      insertBatch: async (events: LedgerEvent[]): Promise<BatchResult> => {
        calls.push(events.length);
        answeredAtCall.push(answered);
        if (events.some((e) => e.idempotencyKey === 'poison')) {
          throw Object.assign(new Error('counter_limit: a usage counter would reach 9007199254740992, past its cap of 9007199254740991'), { code: 'TGCAP' });
        }
        return real.insertBatch(events);
      },
    } as unknown as UsageLedger;
    const ingestor = new UsageIngestor(ledger, config);
    const events = Array.from({ length: 64 }, (_, i) => event(i % 2 ? a : b, `e-${i}`));
    events[37] = event(a, 'poison');
    const outcomes = await Promise.all(
      events.map((e) =>
        ingestor.record(e).then(
          (status) => (answered++, status),
          (error: Error) => (answered++, error),
        ),
      ),
    );
    const refused = outcomes[37] as UsageRejectedError;
    expect([refused.reason, refused.message]).toEqual(['counter_limit', 'a usage counter would reach 9007199254740992, past its cap of 9007199254740991']);
    expect(outcomes.filter((outcome) => outcome === 'accepted')).toHaveLength(63);
    expect(Number(await counterOf(a)) + Number(await counterOf(b))).toBe(63);
    expect(calls).toEqual([64, 32, 32, 16, 8, 4, 4, 2, 1, 1, 2, 8, 16]);
    // The first 32 were answered as soon as their half committed, before the search went on.
    expect(answeredAtCall.slice(0, 4)).toEqual([0, 0, 32, 32]);
  });

  it('splits a batch refused for its rows even when the message reads like a lost connection', async () => {
    const [a] = await customers(1);
    const real = new UsageLedger(dataSource, config);
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-ingestor-'));
    const ledger = {
      insertBatch: async (events: LedgerEvent[]): Promise<BatchResult> => {
        if (events.some((e) => e.meter === 'connections_closed')) {
          throw Object.assign(new Error('new row for relation "usage_events" violates check constraint on "connections_closed"'), { code: '23514' });
        }
        return real.insertBatch(events);
      },
    } as unknown as UsageLedger;
    const ingestor = new UsageIngestor(ledger, TollgateConfig.create({ ...config, dataDir }));
    const outcomes = await recordTogether(ingestor, [event(a, 'ok-1'), { ...event(a, 'bad'), meter: 'connections_closed' }, event(a, 'ok-2')]);
    expect(outcomes.map((outcome) => (outcome instanceof UsageRejectedError ? outcome.reason : outcome))).toEqual(['accepted', 'refused', 'accepted']);
    expect(await ingestor.pendingSpoolFiles()).toBe(0);
  });

  it('replays a spool file with a bad event: the rest go in, the bad one is kept aside with its reason', async () => {
    const [a] = await customers(1);
    const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-spool-'));
    const spooled = [
      event(a, 's-1', 4),
      event('cus_vanished', 's-2', 1),
      event(a, 's-3', Number.MAX_SAFE_INTEGER),
      event(a, 's-4', 6),
    ];
    await new UsageSpool(join(dataDir, 'spool')).write(spooled);
    const ingestor = new UsageIngestor(new UsageLedger(dataSource, config), TollgateConfig.create({ ...config, dataDir }));
    ingestor.onApplicationBootstrap();
    ingestor.beforeApplicationShutdown();
    await ingestor.onApplicationShutdown();
    expect(await counterOf(a)).toBe('10');
    expect(await ingestor.pendingSpoolFiles()).toBe(0);
    const aside = readdirSync(join(dataDir, 'spool', 'failed'));
    expect(aside).toHaveLength(1);
    const kept = readFileSync(join(dataDir, 'spool', 'failed', aside[0]), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { idempotencyKey: string; refused: { reason: string } });
    expect(kept.map((entry) => [entry.idempotencyKey, entry.refused.reason]).sort()).toEqual([
      ['s-2', 'refused'],
      ['s-3', 'quantity_limit'],
    ]);
  });
});
