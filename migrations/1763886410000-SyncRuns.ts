import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SyncRuns1763886410000 implements MigrationInterface {
  name = 'SyncRuns1763886410000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // One row per usage-sync run that did work (or failed): what the operator console lists under Billing.
    await queryRunner.query(`
      CREATE TABLE sync_runs (
        id bigserial PRIMARY KEY,
        started_at timestamptz NOT NULL,
        finished_at timestamptz NOT NULL DEFAULT now(),
        dry_run boolean NOT NULL,
        planned integer NOT NULL DEFAULT 0,
        sent integer NOT NULL DEFAULT 0,
        failed integer NOT NULL DEFAULT 0,
        still_pending integer NOT NULL DEFAULT 0,
        blocked integer NOT NULL DEFAULT 0,
        error text
      )`);
    await queryRunner.query(`CREATE INDEX sync_runs_started_idx ON sync_runs (started_at DESC)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE sync_runs`);
  }
}
