import type { MigrationInterface, QueryRunner } from 'typeorm';

export class UsageCounterLimit1763885610000 implements MigrationInterface {
  name = 'UsageCounterLimit1763885610000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Every counter write of the ledger statement goes through this check: past the configured cap, the
    // statement fails with its own SQLSTATE, and the ledger writes the batch again leaving out the events that
    // do not fit (or, if a concurrent batch raced it, the ingestor splits the batch). The message holds numbers
    // only: no customer's text can make it read like a connection error.
    await queryRunner.query(`
      CREATE FUNCTION usage_counter_limit_exceeded(total numeric, cap numeric) RETURNS bigint
      LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'counter_limit: a usage counter would reach %, past its cap of %', total, cap USING ERRCODE = 'TGCAP';
      END $$`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP FUNCTION usage_counter_limit_exceeded`);
  }
}
