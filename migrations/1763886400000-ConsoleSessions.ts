import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ConsoleSessions1763886400000 implements MigrationInterface {
  name = 'ConsoleSessions1763886400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Operator-console sessions, opened with the admin token. Not portal_sessions: those belong to a customer
    // (foreign key, suspension ends them), an operator session belongs to no customer. Only the SHA-256 of the
    // cookie's random token is stored, so a read of this table signs nobody in.
    await queryRunner.query(`
      CREATE TABLE console_sessions (
        token_hash text PRIMARY KEY,
        csrf_token text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE console_sessions`);
  }
}
