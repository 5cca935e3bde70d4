import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { PartitionUsageLedger1763886300000 } from '../../migrations/1763886300000-PartitionUsageLedger.js';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { dataSourceOptions } from '../../src/database/data-source.options.js';
import { runMigrations } from '../../src/database/migrate.js';
import { UsageLedger } from '../../src/metering/usage-ledger.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

/**
 * The partitioning migration converts a ledger written by the previous schema in place: every event (id and all),
 * every key and every counter survives, rollups are backfilled, and exactly-once still holds afterwards.
 */
describe('migration to the partitioned ledger, with data in the old table', () => {
  let database: TestDatabase;
  let config: TollgateConfig;
  const open = (migrations: typeof MIGRATIONS) => new DataSource({ ...dataSourceOptions(config, database.embedded), migrations }).initialize();
  const embedded = () => database.embedded !== null;

  beforeAll(async () => {
    database = await createTestDatabase();
    config = TollgateConfig.create({ databaseUrl: database.databaseUrl, databaseSchema: database.schema });
  });
  afterAll(() => database.dispose());

  const EVENTS_SQL = `SELECT id::text, customer_id, meter, quantity::text, idempotency_key, occurred_at, period_start, recorded_at, properties FROM usage_events ORDER BY id`;
  const COUNTERS_SQL = `SELECT customer_id, meter, period_start, period_end, total::text FROM usage_counters ORDER BY 1, 2, 3`;

  it('keeps every row, key and counter, backfills rollups, and still counts each key once', async () => {
    const previous = MIGRATIONS.slice(0, MIGRATIONS.indexOf(PartitionUsageLedger1763886300000));
    const before = await open(previous);
    try {
      await runMigrations(before, { schema: database.schema, embedded: embedded() });
      await before.query(`INSERT INTO customers (id, name, tier) VALUES ('cus_old_a', 'a', 'pro'), ('cus_old_b', 'b', 'pro')`);
      // ~2 600 events with ids spread over 250 000 (several of the migration's id-range batches), two customers,
      // calendar and anchored periods over three months, several meters and days, and some properties.
      await before.query(`
        INSERT INTO usage_events (id, customer_id, meter, quantity, idempotency_key, occurred_at, period_start, properties)
        SELECT i * 97,
               CASE WHEN i % 2 = 0 THEN 'cus_old_a' ELSE 'cus_old_b' END,
               CASE WHEN i % 3 = 0 THEN 'tokens' ELSE 'api_calls' END,
               i % 11,
               'idem:' || i,
               occurred,
               CASE WHEN i % 2 = 0 THEN date_trunc('month', occurred AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                    ELSE timestamptz '2025-08-15T09:00:00Z' + (floor(extract(epoch FROM occurred - timestamptz '2025-08-15T09:00:00Z') / (31 * 86400))) * interval '31 days' END,
               CASE WHEN i % 5 = 0 THEN jsonb_build_object('path', '/v1/"quoted"\\' || i) END
          FROM generate_series(1, 2600) AS i,
               LATERAL (SELECT timestamptz '2025-09-01T00:00:00Z' + (i * 2999) * interval '1 second' AS occurred) AS o`);
      await before.query(`
        INSERT INTO usage_counters (customer_id, meter, period_start, period_end, total)
        SELECT customer_id, meter, period_start, period_start + interval '1 month', sum(quantity) FROM usage_events GROUP BY 1, 2, 3`);
      expect(await before.query(`SELECT relkind FROM pg_class WHERE oid = 'usage_events'::regclass`)).toEqual([{ relkind: 'r' }]);
    } finally {
      await before.destroy();
    }
    const events = await database.query(EVENTS_SQL);
    const counters = await database.query(COUNTERS_SQL);
    expect(events).toHaveLength(2600);
    const months = await database.query<{ month: string }>(`SELECT DISTINCT to_char(period_start AT TIME ZONE 'UTC', 'YYYYMM') AS month FROM usage_events ORDER BY 1`);
    expect(months.length).toBeGreaterThanOrEqual(3);

    const through = MIGRATIONS.slice(0, MIGRATIONS.indexOf(PartitionUsageLedger1763886300000) + 1);
    const after = await open(through);
    try {
      expect(await runMigrations(after, { schema: database.schema, embedded: embedded() })).toEqual(['PartitionUsageLedger1763886300000']);

      // Every event, id and column, now in a partitioned table; each in its month's partition, none in DEFAULT.
      expect(await database.query(EVENTS_SQL)).toEqual(events);
      expect(await database.query(COUNTERS_SQL)).toEqual(counters);
      expect(await database.query(`SELECT relkind FROM pg_class WHERE oid = 'usage_events'::regclass`)).toEqual([{ relkind: 'p' }]);
      expect(await database.query(`SELECT count(*)::int AS n FROM usage_events_default`)).toEqual([{ n: 0 }]);
      for (const { month } of months) {
        const [{ n }] = await database.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM usage_events_p${month} WHERE to_char(period_start AT TIME ZONE 'UTC', 'YYYYMM') = $1`,
          [month],
        );
        expect(n).toBe(events.filter((row) => new Date(row.period_start as Date).toISOString().slice(0, 7).replace('-', '') === month).length);
      }
      // No month missing from the oldest period's to two months ahead: a late event of any of them finds its partition.
      const [{ missing }] = await database.query<{ missing: number }>(
        `SELECT count(*)::int AS missing
           FROM generate_series(timestamp '2025-08-01', (now() + interval '2 months') AT TIME ZONE 'UTC', interval '1 month') AS m
          WHERE to_regclass('usage_events_p' || to_char(m, 'YYYYMM')) IS NULL`,
      );
      expect(missing).toBe(0);
      // Every key claimed, with its period; the rollups are the events per UTC day.
      expect(
        await database.query(
          `SELECT count(*)::int AS n FROM usage_events e FULL JOIN usage_event_keys k USING (customer_id, idempotency_key)
            WHERE e.period_start IS DISTINCT FROM k.period_start`,
        ),
      ).toEqual([{ n: 0 }]);
      expect(await database.query(`SELECT count(*)::int AS n FROM usage_event_keys`)).toEqual([{ n: 2600 }]);
      expect(
        await database.query(
          `SELECT count(*)::int AS n FROM (SELECT customer_id, period_start, (occurred_at AT TIME ZONE 'UTC')::date AS day, meter, sum(quantity) AS quantity
                                             FROM usage_events GROUP BY 1, 2, 3, 4) e
             FULL JOIN usage_daily d USING (customer_id, period_start, day, meter) WHERE e.quantity IS DISTINCT FROM d.quantity`,
        ),
      ).toEqual([{ n: 0 }]);
      const [{ days }] = await database.query<{ days: number }>(`SELECT count(*)::int AS days FROM usage_daily`);
      expect(days).toBeGreaterThan(50);

      // Exactly once still: an old key is a duplicate and moves nothing; a new one is counted, with a fresh id.
      const ledger = new UsageLedger(after, config);
      const periodStart = new Date(events.find((row) => row.idempotency_key === 'idem:2')!.period_start as Date);
      const totalBefore = await ledger.counterTotal('cus_old_a', 'api_calls', periodStart);
      const event = (key: string) => ({
        customerId: 'cus_old_a',
        meter: 'api_calls',
        quantity: 5,
        idempotencyKey: key,
        occurredAt: new Date(periodStart.getTime() + 3_600_000),
        periodStart,
        periodEnd: new Date(Date.UTC(periodStart.getUTCFullYear(), periodStart.getUTCMonth() + 1, 1)),
        properties: null,
      });
      expect((await ledger.insertBatch([event('idem:2')])).inserted.size).toBe(0);
      expect(await ledger.counterTotal('cus_old_a', 'api_calls', periodStart)).toBe(totalBefore);
      expect((await ledger.insertBatch([event('idem:new')])).inserted.size).toBe(1);
      expect(await ledger.counterTotal('cus_old_a', 'api_calls', periodStart)).toBe(totalBefore + 5n);
      const [{ id }] = await database.query<{ id: string }>(`SELECT id::text FROM usage_events WHERE idempotency_key = 'idem:new'`);
      expect(BigInt(id)).toBeGreaterThan(2600n * 97n);
      // Still append-only, on every partition.
      await expect(database.query(`UPDATE usage_events SET quantity = 0 WHERE idempotency_key = 'idem:4'`)).rejects.toThrow(/append-only/);
      await expect(database.query(`DELETE FROM usage_events_p${months[0].month}`)).rejects.toThrow(/append-only/);
    } finally {
      await after.destroy();
    }
  });
});
