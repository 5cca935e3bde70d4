import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateUsageLedger1763885000000 implements MigrationInterface {
  name = 'CreateUsageLedger1763885000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The immutable ledger: one row per billable event, never updated or deleted.
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
    await queryRunner.query(`
      CREATE FUNCTION usage_events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'usage_events is an append-only ledger: % is not allowed', TG_OP;
      END $$`);
    await queryRunner.query(`
      CREATE TRIGGER usage_events_append_only BEFORE UPDATE OR DELETE ON usage_events
      FOR EACH ROW EXECUTE FUNCTION usage_events_immutable()`);

    // Running totals, written in the same statement as the events they count.
    await queryRunner.query(`
      CREATE TABLE usage_counters (
        customer_id text NOT NULL REFERENCES customers (id),
        meter text NOT NULL,
        period_start timestamptz NOT NULL,
        period_end timestamptz NOT NULL,
        total bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (customer_id, meter, period_start)
      )`);

    // Which alerts a counter has raised in a period: the primary key makes each one happen once.
    await queryRunner.query(`
      CREATE TABLE usage_alerts (
        customer_id text NOT NULL REFERENCES customers (id),
        meter text NOT NULL,
        period_start timestamptz NOT NULL,
        kind text NOT NULL CHECK (kind IN ('threshold', 'quota_exceeded')),
        threshold integer NOT NULL,
        total bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (customer_id, meter, period_start, kind, threshold)
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE usage_alerts`);
    await queryRunner.query(`DROP TABLE usage_counters`);
    await queryRunner.query(`DROP TABLE usage_events`);
    await queryRunner.query(`DROP FUNCTION usage_events_immutable`);
  }
}
