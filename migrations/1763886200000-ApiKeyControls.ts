import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ApiKeyControls1763886200000 implements MigrationInterface {
  name = 'ApiKeyControls1763886200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Per-key controls (all optional: null means "not set"). The usage cap's remaining units are spent by an atomic
    // UPDATE on the request path; it does not touch updated_at, so spending never invalidates cached keys.
    await queryRunner.query(`
      ALTER TABLE api_keys
        ADD COLUMN rate_limit text[],
        ADD COLUMN usage_remaining bigint CHECK (usage_remaining >= 0),
        ADD COLUMN usage_refill_amount bigint CHECK (usage_refill_amount >= 0),
        ADD COLUMN usage_refill_interval text CHECK (usage_refill_interval IN ('day', 'week', 'month')),
        ADD COLUMN usage_refilled_at timestamptz,
        ADD COLUMN ip_allowlist text[],
        ADD COLUMN endpoints text[],
        ADD COLUMN metadata jsonb,
        ADD COLUMN locked_controls text[] NOT NULL DEFAULT '{}',
        ADD CONSTRAINT api_keys_refill_complete CHECK ((usage_refill_amount IS NULL) = (usage_refill_interval IS NULL)),
        ADD CONSTRAINT api_keys_refill_needs_cap CHECK (usage_refill_amount IS NULL OR usage_remaining IS NOT NULL)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE api_keys
        DROP COLUMN rate_limit, DROP COLUMN usage_remaining, DROP COLUMN usage_refill_amount, DROP COLUMN usage_refill_interval,
        DROP COLUMN usage_refilled_at, DROP COLUMN ip_allowlist, DROP COLUMN endpoints, DROP COLUMN metadata, DROP COLUMN locked_controls`);
  }
}
