import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { openPglite } from '../../src/database/pglite.driver.js';

/** A database of its own for one test file: a fresh schema on real Postgres, or a fresh embedded PGlite. */
export interface TestDatabase {
  databaseUrl: string | null;
  schema: string;
  embedded: EmbeddedPostgres | null;
  /** Runs SQL against this test's database, outside any app (assertions on stored rows). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  dispose(): Promise<void>;
}

export const usingRealPostgres = Boolean(process.env.DATABASE_URL);

export async function createTestDatabase(): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.query(`SET search_path TO "${schema}"`);
    return {
      databaseUrl: url,
      schema,
      embedded: null,
      query: async <T>(sql: string, params?: unknown[]) => (await admin.query(sql, params)).rows as T[],
      dispose: async () => {
        await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
        await admin.end();
      },
    };
  }
  const template = process.env.TOLLGATE_TEST_PGLITE_TEMPLATE;
  const pglite = await openPglite(undefined, template ? new Blob([await readFile(template)]) : undefined);
  return {
    databaseUrl: null,
    schema: 'public',
    embedded: { pglite, closeOnShutdown: false },
    query: async <T>(sql: string, params?: unknown[]) => (await pglite.query<T>(sql, params)).rows,
    dispose: () => pglite.close(),
  };
}
