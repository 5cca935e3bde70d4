import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SubscribeAttempts1763885800000 implements MigrationInterface {
  name = 'SubscribeAttempts1763885800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // One row per attempt to put a customer on a tier in Stripe. Its id is the Idempotency-Key of the Stripe
    // call: a retry of the same attempt (a lost answer) replays it, a later attempt (re-subscribing after a
    // cancellation) is a new key, hence a new subscription. At most one attempt per customer is open.
    await queryRunner.query(`
      CREATE TABLE stripe_subscribe_attempts (
        id text PRIMARY KEY,
        customer_id text NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
        tier text NOT NULL,
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'failed')),
        stripe_subscription_id text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX stripe_subscribe_attempts_open ON stripe_subscribe_attempts (customer_id) WHERE status = 'open'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE stripe_subscribe_attempts`);
  }
}
