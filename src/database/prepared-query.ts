import type { DataSource } from 'typeorm';

/** The part of a `pg` client (or of our PGlite adapter) a prepared statement needs. */
interface PreparedStatementClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/**
 * Runs a hot statement as a named prepared statement: Postgres parses and plans it once per connection
 * instead of on every call (for the ledger's batch insert, planning was more than half of its time). It goes
 * through TypeORM's pool, so the pool size, the search_path and the PGlite session lease still apply.
 * `name` must stand for one `text` only.
 */
export async function queryPrepared<T>(dataSource: DataSource, name: string, text: string, values: unknown[]): Promise<T[]> {
  const runner = dataSource.createQueryRunner();
  try {
    const client = (await runner.connect()) as PreparedStatementClient;
    return (await client.query({ name, text, values })).rows as T[];
  } finally {
    await runner.release();
  }
}
