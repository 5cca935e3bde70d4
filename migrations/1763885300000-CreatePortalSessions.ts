import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreatePortalSessions1763885300000 implements MigrationInterface {
  name = 'CreatePortalSessions1763885300000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Developer-portal sessions. The cookie holds a random token; only its SHA-256 is stored, so a read of this
    // table signs nobody in. `api_key_id` is the key the session was opened with (null for email links): revoking
    // that key ends the session.
    await queryRunner.query(`
      CREATE TABLE portal_sessions (
        token_hash text PRIMARY KEY,
        customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        method text NOT NULL CHECK (method IN ('api_key', 'email_link')),
        api_key_id text,
        csrf_token text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      )`);
    await queryRunner.query(`CREATE INDEX portal_sessions_customer_idx ON portal_sessions (customer_id)`);
    await queryRunner.query(`CREATE INDEX portal_sessions_key_idx ON portal_sessions (api_key_id) WHERE api_key_id IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX portal_sessions_expiry_idx ON portal_sessions (expires_at)`);
    // One-time sign-in links sent by email: hashed, short-lived, used at most once (used_at set atomically).
    await queryRunner.query(`
      CREATE TABLE portal_login_tokens (
        token_hash text PRIMARY KEY,
        customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        email text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX portal_login_tokens_customer_idx ON portal_login_tokens (customer_id, created_at)`);
    await queryRunner.query(`CREATE INDEX portal_login_tokens_expiry_idx ON portal_login_tokens (expires_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE portal_login_tokens`);
    await queryRunner.query(`DROP TABLE portal_sessions`);
  }
}
