import type { DataSource } from 'typeorm';


export async function runMigrations(dataSource: DataSource, options: { schema: string; embedded: boolean }): Promise<string[]> {
  if (options.embedded) {
    // One process owns an embedded database, so there is no one to race with.
    return (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name);
  }
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`);
    // Concurrent instances starting together migrate one at a time (one lock per schema).
    await runner.query(`SELECT pg_advisory_lock(hashtext('tollgate:migrations:' || $1))`, [options.schema]);
    try {
      return (await dataSource.runMigrations({ transaction: 'each' })).map((migration) => migration.name);
    } finally {
      await runner.query(`SELECT pg_advisory_unlock(hashtext('tollgate:migrations:' || $1))`, [options.schema]);
    }
  } finally {
    await runner.release();
  }
}
