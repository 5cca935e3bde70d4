import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateNotifications1763885200000 implements MigrationInterface {
  name = 'CreateNotifications1763885200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // One row per thing a customer is told; the unique key makes "exactly once" a database fact.
    await queryRunner.query(`
      CREATE TABLE notifications (
        id text PRIMARY KEY,
        customer_id text NOT NULL REFERENCES customers (id),
        kind text NOT NULL,
        dedupe_key text NOT NULL,
        subject text NOT NULL,
        message text NOT NULL,
        data jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT notifications_once UNIQUE (customer_id, kind, dedupe_key)
      )`);
    await queryRunner.query(`CREATE INDEX notifications_customer_idx ON notifications (customer_id, created_at DESC)`);
    // Durable deliveries: written with the notification, claimed with a lease, retried with backoff.
    await queryRunner.query(`
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        notification_id text NOT NULL REFERENCES notifications (id),
        channel text NOT NULL CHECK (channel IN ('webhook', 'email')),
        target text NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        locked_until timestamptz,
        last_error text,
        delivered_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT outbox_once UNIQUE (notification_id, channel)
      )`);
    await queryRunner.query(`CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE outbox`);
    await queryRunner.query(`DROP TABLE notifications`);
  }
}
