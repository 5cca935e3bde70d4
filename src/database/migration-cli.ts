/** `npm run migration:run`: applies pending migrations to DATABASE_URL (or the embedded database) and exits. */
import 'reflect-metadata';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ConfigErrors, configFromEnvironment } from '../config/index.js';
import { dataSourceOptions } from './data-source.options.js';
import { runMigrations } from './migrate.js';
import { openPglite } from './pglite.driver.js';

async function main(): Promise<void> {
  const config = configFromEnvironment(process.env);
  const pglite = config.embedded ? await openPglite(join(config.dataDir, 'pg')) : null;
  const dataSource = await new DataSource(dataSourceOptions(config, pglite && { pglite, closeOnShutdown: true })).initialize();
  try {
    const applied = await runMigrations(dataSource, { schema: config.databaseSchema, embedded: config.embedded });
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await dataSource.destroy();
    await pglite?.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigErrors ? error.message : error);
  process.exit(1);
});
