import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger for years, converted in place from the single `usage_events` table:
 * - `usage_events` is range-partitioned by the UTC calendar month of `period_start` (`usage_events_pYYYYMM`),
 *   plus a DEFAULT partition so an insert never fails for a missing month. By period, not by occurred_at: all
 *   rows of one billing period then sit in one partition, so retention decides per period ("is its invoice
 *   final?"), even for anchored or yearly periods.
 * - Exactly-once moves to `usage_event_keys` (customer_id, idempotency_key) → period_start, unpartitioned: a
 *   unique index of a partitioned table must hold the partition key, which would let one key count once per
 *   period instead of once. The ledger statement claims the key first and inserts only the events it claimed.
 *   A key lives as long as its event: retention deletes the keys with the partition it exports.
 * - `usage_daily` holds per customer, meter, period and UTC day of occurred_at the quantity, written in the
 *   same statement as the counters; usage reports read it, never raw events.
 */
/** Old rows moved per statement (by id range). */
const MOVE_BATCH = 100_000n;

export class PartitionUsageLedger1763886300000 implements MigrationInterface {
  name = 'PartitionUsageLedger1763886300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The old table steps aside under another name (its index, constraint and sequence names too: they are
    // schema-wide) and is dropped at the end, after every row is copied. DROP fires no row trigger.
    await queryRunner.query(`ALTER TABLE usage_events RENAME TO usage_events_unpartitioned`);
    await queryRunner.query(`ALTER TABLE usage_events_unpartitioned RENAME CONSTRAINT usage_events_pkey TO usage_events_unpartitioned_pkey`);
    await queryRunner.query(`ALTER TABLE usage_events_unpartitioned RENAME CONSTRAINT usage_events_idempotency TO usage_events_unpartitioned_idempotency`);
    await queryRunner.query(`ALTER INDEX usage_events_period_idx RENAME TO usage_events_unpartitioned_period_idx`);
    await queryRunner.query(`ALTER SEQUENCE usage_events_id_seq RENAME TO usage_events_unpartitioned_id_seq`);

    // A primary key of a partitioned table must hold the partition key. The id index also orders the export.
    await queryRunner.query(`
      CREATE TABLE usage_events (
        id bigserial NOT NULL,
        customer_id text NOT NULL REFERENCES customers (id),
        meter text NOT NULL,
        quantity bigint NOT NULL CHECK (quantity >= 0),
        idempotency_key text NOT NULL,
        occurred_at timestamptz NOT NULL,
        period_start timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        properties jsonb,
        PRIMARY KEY (id, period_start)
      ) PARTITION BY RANGE (period_start)`);
    await queryRunner.query(`CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT`);
    // Row triggers on a partitioned table are cloned to every partition, present and future. Still no UPDATE
    // or DELETE of a row: the one removal is retention's DROP of a whole partition after it was exported.
    await queryRunner.query(`
      CREATE TRIGGER usage_events_append_only BEFORE UPDATE OR DELETE ON usage_events
      FOR EACH ROW EXECUTE FUNCTION usage_events_immutable()`);

    // Creates the partition of the UTC month holding `month`, unless it exists. If the DEFAULT partition already
    // holds rows of that month, nothing is moved (rows are never deleted): the month stays in DEFAULT, and the
    // answer says so for the maintenance to log. Names are unqualified: they land in the current schema.
    await queryRunner.query(`
      CREATE FUNCTION usage_events_create_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
      DECLARE
        range_from timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
        range_to timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
        part_name text := 'usage_events_p' || to_char(range_from AT TIME ZONE 'UTC', 'YYYYMM');
      BEGIN
        IF to_regclass(quote_ident(part_name)) IS NOT NULL THEN RETURN 'exists'; END IF;
        IF EXISTS (SELECT 1 FROM usage_events_default WHERE period_start >= range_from AND period_start < range_to) THEN
          RETURN 'in_default';
        END IF;
        EXECUTE format('CREATE TABLE %I PARTITION OF usage_events FOR VALUES FROM (%L) TO (%L)', part_name, range_from, range_to);
        RETURN 'created';
      END $$`);

    // One partition for every month from the oldest period counted (every event has its counter, written in the
    // same statement; the small counters table is read, not the large events table) or 12 months ago (a yearly
    // period may have started then), to two months ahead: no gap for a late event to fall into DEFAULT. From now
    // on the maintenance makes each month while it is ahead. Stepped in UTC wall time: a month is a UTC month.
    await queryRunner.query(`
      SELECT usage_events_create_partition(month AT TIME ZONE 'UTC')
        FROM generate_series(
               date_trunc('month', least((SELECT min(period_start) FROM usage_counters), now() - interval '12 months') AT TIME ZONE 'UTC'),
               (now() + interval '2 months') AT TIME ZONE 'UTC', interval '1 month') AS month
       ORDER BY month`);
    await queryRunner.query(`SELECT setval('usage_events_id_seq', greatest((SELECT max(id) FROM usage_events_unpartitioned), 1), (SELECT max(id) IS NOT NULL FROM usage_events_unpartitioned))`);

    // Exactly once, across every partition: one row per (customer, key) while its event is in the ledger.
    await queryRunner.query(`
      CREATE TABLE usage_event_keys (
        customer_id text NOT NULL,
        idempotency_key text NOT NULL,
        period_start timestamptz NOT NULL,
        PRIMARY KEY (customer_id, idempotency_key)
      )`);

    // Daily rollups: the day is the UTC day of occurred_at, within the event's period (an anchored period starts
    // mid-day, so one day may be split between two periods' rows).
    await queryRunner.query(`
      CREATE TABLE usage_daily (
        customer_id text NOT NULL REFERENCES customers (id),
        period_start timestamptz NOT NULL,
        day date NOT NULL,
        meter text NOT NULL,
        quantity bigint NOT NULL,
        PRIMARY KEY (customer_id, period_start, day, meter)
      )`);

    // Rows move by id ranges, events, keys and rollups together: each statement stays short (the pool's query
    // timeout applies to migrations too), however large the old table.
    const [{ min, max }] = (await queryRunner.query(`SELECT min(id)::text AS min, max(id)::text AS max FROM usage_events_unpartitioned`)) as Array<{
      min: string | null;
      max: string | null;
    }>;
    if (min !== null && max !== null) {
      for (let from = BigInt(min); from <= BigInt(max); from += MOVE_BATCH) {
        const range = [from.toString(), (from + MOVE_BATCH).toString()];
        await queryRunner.query(
          `INSERT INTO usage_events (id, customer_id, meter, quantity, idempotency_key, occurred_at, period_start, recorded_at, properties)
           SELECT id, customer_id, meter, quantity, idempotency_key, occurred_at, period_start, recorded_at, properties
             FROM usage_events_unpartitioned WHERE id >= $1 AND id < $2`,
          range,
        );
        await queryRunner.query(
          `INSERT INTO usage_event_keys (customer_id, idempotency_key, period_start)
           SELECT customer_id, idempotency_key, period_start FROM usage_events_unpartitioned WHERE id >= $1 AND id < $2`,
          range,
        );
        await queryRunner.query(
          `INSERT INTO usage_daily AS d (customer_id, period_start, day, meter, quantity)
           SELECT customer_id, period_start, (occurred_at AT TIME ZONE 'UTC')::date, meter, sum(quantity)
             FROM usage_events_unpartitioned WHERE id >= $1 AND id < $2 GROUP BY 1, 2, 3, 4
           ON CONFLICT (customer_id, period_start, day, meter) DO UPDATE SET quantity = d.quantity + EXCLUDED.quantity`,
          range,
        );
      }
    }

    await queryRunner.query(`DROP TABLE usage_events_unpartitioned`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE usage_events RENAME TO usage_events_partitioned`);
    await queryRunner.query(`ALTER SEQUENCE usage_events_id_seq RENAME TO usage_events_partitioned_id_seq`);
    await queryRunner.query(`
      CREATE TABLE usage_events (
        id bigserial PRIMARY KEY,
        customer_id text NOT NULL REFERENCES customers (id),
        meter text NOT NULL,
        quantity bigint NOT NULL CHECK (quantity >= 0),
        idempotency_key text NOT NULL,
        occurred_at timestamptz NOT NULL,
        period_start timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        properties jsonb,
        CONSTRAINT usage_events_idempotency UNIQUE (customer_id, idempotency_key)
      )`);
    await queryRunner.query(`CREATE INDEX usage_events_period_idx ON usage_events (customer_id, period_start, meter)`);
    await queryRunner.query(`INSERT INTO usage_events SELECT id, customer_id, meter, quantity, idempotency_key, occurred_at, period_start, recorded_at, properties FROM usage_events_partitioned`);
    await queryRunner.query(`SELECT setval('usage_events_id_seq', greatest((SELECT max(id) FROM usage_events), 1), (SELECT max(id) IS NOT NULL FROM usage_events))`);
    await queryRunner.query(`
      CREATE TRIGGER usage_events_append_only BEFORE UPDATE OR DELETE ON usage_events
      FOR EACH ROW EXECUTE FUNCTION usage_events_immutable()`);
    await queryRunner.query(`DROP TABLE usage_events_partitioned`);
    await queryRunner.query(`DROP FUNCTION usage_events_create_partition`);
    await queryRunner.query(`DROP TABLE usage_event_keys`);
    await queryRunner.query(`DROP TABLE usage_daily`);
  }
}
