import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateCustomers1763884800000 implements MigrationInterface {
  name = 'CreateCustomers1763884800000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE customers (
        id text PRIMARY KEY,
        external_id text UNIQUE,
        name text NOT NULL,
        email text,
        tier text NOT NULL,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'past_due', 'canceled')),
        overrides jsonb NOT NULL DEFAULT '{}'::jsonb,
        stripe_customer_id text UNIQUE,
        stripe_subscription_id text UNIQUE,
        period_start timestamptz,
        period_end timestamptz,
        webhook_url text,
        webhook_secret_encrypted text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX customers_tier_idx ON customers (tier)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE customers`);
  }
}
