import { DataSource } from 'typeorm';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { dataSourceOptions } from '../../src/database/data-source.options.js';
import { runMigrations } from '../../src/database/migrate.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('migrations', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.dispose());

  it('apply once even when several instances start together, and are idempotent afterwards', async () => {
    const config = TollgateConfig.create({ databaseUrl: database.databaseUrl, databaseSchema: database.schema });
    const sources = await Promise.all(
      [1, 2, 3].map(() => new DataSource(dataSourceOptions(config, database.embedded)).initialize()),
    );
    try {
      const applied = await Promise.all(
        sources.map((source) => runMigrations(source, { schema: database.schema, embedded: database.embedded !== null })),
      );
      expect(applied.flat()).toHaveLength(MIGRATIONS.length);
      const again = await runMigrations(sources[0], { schema: database.schema, embedded: database.embedded !== null });
      expect(again).toEqual([]);
      const rows = await database.query<{ count: string }>('SELECT count(*)::text AS count FROM tollgate_migrations');
      expect(rows[0].count).toBe(String(MIGRATIONS.length));
    } finally {
      await Promise.all(sources.map((source) => source.destroy()));
    }
  });
});
