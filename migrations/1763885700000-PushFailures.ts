import type { MigrationInterface, QueryRunner } from 'typeorm';

export class PushFailures1763885700000 implements MigrationInterface {
  name = 'PushFailures1763885700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Why a push failed (Stripe's error code, or ours: too_old, retry_requested), which meter it was meant for and
    // which push replaced it once the cause was fixed: a failed push stays visible until its usage is re-sent.
    await queryRunner.query(`ALTER TABLE stripe_pushes ADD COLUMN failure_code text`);
    await queryRunner.query(`ALTER TABLE stripe_pushes ADD COLUMN meter_id text`);
    await queryRunner.query(`ALTER TABLE stripe_pushes ADD COLUMN failed_at timestamptz`);
    await queryRunner.query(`ALTER TABLE stripe_pushes ADD COLUMN replanned_as text`);
    await queryRunner.query(`CREATE INDEX stripe_pushes_failed_idx ON stripe_pushes (status) WHERE status = 'failed'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX stripe_pushes_failed_idx`);
    await queryRunner.query(`ALTER TABLE stripe_pushes DROP COLUMN replanned_as`);
    await queryRunner.query(`ALTER TABLE stripe_pushes DROP COLUMN failed_at`);
    await queryRunner.query(`ALTER TABLE stripe_pushes DROP COLUMN meter_id`);
    await queryRunner.query(`ALTER TABLE stripe_pushes DROP COLUMN failure_code`);
  }
}
