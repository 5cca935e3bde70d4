import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateApiKeys1763884900000 implements MigrationInterface {
  name = 'CreateApiKeys1763884900000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE api_keys (
        id text PRIMARY KEY,
        customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        hash text NOT NULL UNIQUE,
        prefix text NOT NULL,
        name text NOT NULL DEFAULT 'default',
        mode text NOT NULL CHECK (mode IN ('live', 'test')),
        scopes text[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        expires_at timestamptz,
        revoked_at timestamptz,
        replaced_by text
      )`);
    await queryRunner.query(`CREATE INDEX api_keys_customer_idx ON api_keys (customer_id)`);
    // Instances poll for recently changed keys and customers to drop them from their caches.
    await queryRunner.query(`CREATE INDEX api_keys_updated_idx ON api_keys (updated_at)`);
    await queryRunner.query(`CREATE INDEX customers_updated_idx ON customers (updated_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE api_keys`);
    await queryRunner.query(`DROP INDEX customers_updated_idx`);
  }
}
