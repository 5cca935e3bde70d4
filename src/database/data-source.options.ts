import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import type { TollgateConfig } from '../config/index.js';
import type { EmbeddedPostgres } from './embedded-postgres.js';
import { pgliteDriver } from './pglite.driver.js';

export const MIGRATIONS_TABLE = 'tollgate_migrations';

export function dataSourceOptions(config: TollgateConfig, embedded: EmbeddedPostgres | null): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsRun: false,
    synchronize: false,
    logging: false,
  };
  if (embedded) {
    return { ...common, driver: pgliteDriver(embedded.pglite) };
  }
  const schema = config.databaseSchema;
  return {
    ...common,
    url: config.databaseUrl ?? undefined,
    schema,
    applicationName: 'tollgate',
    // Unqualified SQL (migrations, raw queries) resolves in the configured schema.
    extra: {
      options: `-c search_path=${schema}`,
      max: 20,
      connectionTimeoutMillis: 5000,
      // A silent network partition must fail fast (then events spool), not hang requests.
      query_timeout: 5000,
      keepAlive: true,
    },
  };
}
