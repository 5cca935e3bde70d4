import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateBilling1763885100000 implements MigrationInterface {
  name = 'CreateBilling1763885100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Outbox of meter-event pushes: written before the Stripe call, with the identifier Stripe dedupes on.
    await queryRunner.query(`
      CREATE TABLE stripe_pushes (
        id bigserial PRIMARY KEY,
        identifier text NOT NULL UNIQUE CHECK (length(identifier) <= 100),
        customer_id text NOT NULL REFERENCES customers (id),
        stripe_customer_id text,
        meter text NOT NULL,
        event_name text NOT NULL,
        period_start timestamptz NOT NULL,
        period_end timestamptz NOT NULL,
        from_total bigint NOT NULL,
        to_total bigint NOT NULL,
        delta bigint NOT NULL,
        event_timestamp timestamptz NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'dry_run')),
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX stripe_pushes_counter_idx ON stripe_pushes (customer_id, meter, period_start)`);
    await queryRunner.query(`CREATE INDEX stripe_pushes_pending_idx ON stripe_pushes (status) WHERE status = 'pending'`);

    // Stripe webhook events already processed: a redelivery is acknowledged and ignored.
    await queryRunner.query(`
      CREATE TABLE stripe_webhook_events (
        id text PRIMARY KEY,
        type text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE stripe_webhook_events`);
    await queryRunner.query(`DROP TABLE stripe_pushes`);
  }
}
