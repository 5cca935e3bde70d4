import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '../../test/support/database.js';
import { TollgateConfig } from '../config/tollgate-config.js';
import { dataSourceOptions } from '../database/data-source.options.js';
import { runMigrations } from '../database/migrate.js';
import { LedgerPartitions } from './ledger-partitions.service.js';
import { type LedgerEvent, UsageLedger } from './usage-ledger.js';

const NOW = new Date('2024-07-10T12:00:00.000Z');
const DAY = 86_400_000;

describe('LedgerPartitions (monthly partitions, retention export and drop)', () => {
  let database: TestDatabase;
  let dataSource: DataSource;
  let ledger: UsageLedger;
  let archiveDir: string;
  const partitionsWith = (overrides: Partial<TollgateConfig>) =>
    new LedgerPartitions(dataSource, TollgateConfig.create({ databaseUrl: database.databaseUrl, databaseSchema: database.schema, ledgerArchiveDir: archiveDir, ...overrides }));
  const exists = async (name: string) => (await database.query<{ oid: string | null }>(`SELECT to_regclass($1)::text AS oid`, [name]))[0].oid !== null;
  const event = (customerId: string, key: string, quantity: number, occurredAt: string, period: [string, string]): LedgerEvent => ({
    customerId,
    meter: 'api_calls',
    quantity,
    idempotencyKey: key,
    occurredAt: new Date(occurredAt),
    periodStart: new Date(period[0]),
    periodEnd: new Date(period[1]),
    properties: { key },
  });
  const JANUARY: [string, string] = ['2024-01-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z'];
  /** Anchored mid-month: the March partition's period ends in April. */
  const ANCHORED: [string, string] = ['2024-03-15T09:00:00.000Z', '2024-04-15T09:00:00.000Z'];
  const JULY: [string, string] = ['2024-07-01T00:00:00.000Z', '2024-08-01T00:00:00.000Z'];

  beforeAll(async () => {
    database = await createTestDatabase();
    archiveDir = await mkdtemp(join(tmpdir(), 'tollgate-ledger-archive-'));
    const config = TollgateConfig.create({ databaseUrl: database.databaseUrl, databaseSchema: database.schema });
    dataSource = await new DataSource(dataSourceOptions(config, database.embedded)).initialize();
    await runMigrations(dataSource, { schema: database.schema, embedded: database.embedded !== null });
    ledger = new UsageLedger(dataSource, config);
    await database.query(`INSERT INTO customers (id, name, tier) VALUES ('cus_cal', 'cal', 'pro'), ('cus_anchor', 'anchor', 'pro'), ('cus_stray', 'stray', 'pro')`);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.dispose();
    await rm(archiveDir, { recursive: true, force: true });
  });

  it('creates this month and the next two, never a past month, and with retention 0 archives nothing', async () => {
    const report = await partitionsWith({ ledgerRetentionMonths: 0 }).maintain(NOW);
    expect(report).toMatchObject({ ran: true, created: ['2024-07', '2024-08', '2024-09'], inDefault: [], archived: [] });
    expect(await exists('usage_events_p202406')).toBe(false);
    // The months of this test's older periods, as the maintenance made them while they were ahead.
    await database.query(`SELECT usage_events_create_partition(m) FROM unnest($1::timestamptz[]) AS m`, [['2024-01-01T00:00:00Z', '2024-03-01T00:00:00Z']]);
    await ledger.insertBatch([event('cus_cal', 'jan-0', 0, '2024-01-02T10:00:00Z', JANUARY)]);
    // Again: nothing new, and nothing archived without a retention, however old.
    expect(await partitionsWith({ ledgerRetentionMonths: 0 }).maintain(new Date('2030-01-15T00:00:00Z'))).toMatchObject({
      created: ['2030-01', '2030-02', '2030-03'],
      archived: [],
    });
    expect(await exists('usage_events_p202401')).toBe(true);
  });

  it('exports and drops a partition whose periods are final and past the retention; keeps counters, rollups and younger partitions', async () => {
    await ledger.insertBatch([
      event('cus_cal', 'jan-1', 1, '2024-01-03T10:00:00Z', JANUARY),
      event('cus_cal', 'jan-2', 2, '2024-01-03T23:00:00Z', JANUARY),
      event('cus_cal', 'jan-3', 3, '2024-01-20T05:00:00Z', JANUARY),
      event('cus_anchor', 'mar-1', 4, '2024-03-20T10:00:00Z', ANCHORED),
      event('cus_anchor', 'apr-1', 5, '2024-04-10T10:00:00Z', ANCHORED),
      event('cus_cal', 'jul-1', 6, '2024-07-02T10:00:00Z', JULY),
    ]);
    const rowsBefore = await database.query<{ n: number }>(`SELECT count(*)::int AS n FROM usage_events_p202401`);
    expect(rowsBefore[0].n).toBe(4);

    // Retention 3 months. January's period ended 2024-02-01: past. The March partition's anchored period ended
    // 2024-04-15, under 3 months ago (a rule by calendar month alone would drop it). July is still open.
    // Two instances at once: the advisory lock lets one archive; neither fails.
    const reports = await Promise.all([partitionsWith({ ledgerRetentionMonths: 3 }).maintain(NOW), partitionsWith({ ledgerRetentionMonths: 3 }).maintain(NOW)]);
    const archived = reports.flatMap((report) => report.archived);
    expect(archived).toEqual([{ partition: 'usage_events_p202401', file: join(archiveDir, `${database.schema}.usage_events_p202401.jsonl.gz`), rows: 4 }]);

    const lines = gunzipSync(await readFile(archived[0].file)).toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map(({ customer_id, idempotency_key, quantity, occurred_at, period_start, properties }) => ({ customer_id, idempotency_key, quantity, occurred_at, period_start, properties }))).toEqual([
      { customer_id: 'cus_cal', idempotency_key: 'jan-0', quantity: '0', occurred_at: '2024-01-02T10:00:00.000Z', period_start: JANUARY[0], properties: { key: 'jan-0' } },
      { customer_id: 'cus_cal', idempotency_key: 'jan-1', quantity: '1', occurred_at: '2024-01-03T10:00:00.000Z', period_start: JANUARY[0], properties: { key: 'jan-1' } },
      { customer_id: 'cus_cal', idempotency_key: 'jan-2', quantity: '2', occurred_at: '2024-01-03T23:00:00.000Z', period_start: JANUARY[0], properties: { key: 'jan-2' } },
      { customer_id: 'cus_cal', idempotency_key: 'jan-3', quantity: '3', occurred_at: '2024-01-20T05:00:00.000Z', period_start: JANUARY[0], properties: { key: 'jan-3' } },
    ]);

    expect(await exists('usage_events_p202401')).toBe(false);
    expect(await exists('usage_events_p202403')).toBe(true);
    expect(await exists('usage_events_p202407')).toBe(true);
    // Counters and daily rollups stay; the raw events and their keys are gone, the younger ones are not.
    expect(await ledger.counterTotal('cus_cal', 'api_calls', new Date(JANUARY[0]))).toBe(6n);
    expect(await ledger.dailySeries('cus_cal', new Date(JANUARY[0]))).toEqual([
      { date: '2024-01-02', meter: 'api_calls', quantity: 0n },
      { date: '2024-01-03', meter: 'api_calls', quantity: 3n },
      { date: '2024-01-20', meter: 'api_calls', quantity: 3n },
    ]);
    expect(await database.query(`SELECT idempotency_key FROM usage_events WHERE customer_id = 'cus_cal' ORDER BY 1`)).toEqual([{ idempotency_key: 'jul-1' }]);
    expect(await ledger.hasEvent('cus_cal', 'jan-1')).toBe(false);
    expect(await ledger.hasEvent('cus_anchor', 'mar-1')).toBe(true);
    expect(await ledger.hasEvent('cus_cal', 'jul-1')).toBe(true);
    // Rows still cannot be deleted one by one.
    await expect(database.query(`DELETE FROM usage_events WHERE customer_id = 'cus_anchor'`)).rejects.toThrow(/append-only/);

    // Once the anchored period is 3 months past its end (and its invoice final), its partition goes too.
    const later = await partitionsWith({ ledgerRetentionMonths: 3 }).maintain(new Date(new Date(ANCHORED[1]).getTime() + 92 * DAY));
    expect(later.archived.map((entry) => [entry.partition, entry.rows])).toEqual([['usage_events_p202403', 2]]);
    expect(await ledger.counterTotal('cus_anchor', 'api_calls', new Date(ANCHORED[0]))).toBe(9n);
  });

  it('leaves a month whose events are already in the DEFAULT partition there, and says so', async () => {
    // An event of a month with no partition yet (here: before the maintenance ever ran for it) lands in DEFAULT.
    const period: [string, string] = ['2020-04-01T00:00:00.000Z', '2020-05-01T00:00:00.000Z'];
    await ledger.insertBatch([event('cus_stray', 'early-1', 7, '2020-04-05T00:00:00Z', period)]);
    expect(await database.query(`SELECT idempotency_key FROM usage_events_default`)).toEqual([{ idempotency_key: 'early-1' }]);

    const report = await partitionsWith({ ledgerRetentionMonths: 1 }).maintain(new Date('2020-03-01T00:00:00.000Z'));
    expect(report).toMatchObject({ created: ['2020-03', '2020-05'], inDefault: ['2020-04'] });
    expect(await exists('usage_events_p202004')).toBe(false);
    // Still there, still counted once, never archived.
    expect((await partitionsWith({ ledgerRetentionMonths: 1 }).maintain(new Date('2021-01-01T00:00:00.000Z'))).archived).toEqual([]);
    expect(await database.query(`SELECT idempotency_key FROM usage_events_default`)).toEqual([{ idempotency_key: 'early-1' }]);
    expect((await ledger.insertBatch([event('cus_stray', 'early-1', 7, '2020-04-05T00:00:00Z', period)])).inserted.size).toBe(0);
    expect(await ledger.counterTotal('cus_stray', 'api_calls', new Date(period[0]))).toBe(7n);
  });
});
