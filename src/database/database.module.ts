import { join } from 'node:path';
import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { isDatabaseUnavailable, loadOptionalPeer } from '../common/index.js';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TollgateConfig } from '../config/index.js';
import { dataSourceOptions } from './data-source.options.js';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { DatabaseReadiness, openDatabase } from './database-readiness.js';
import { openPglite } from './pglite.driver.js';
import { TOLLGATE_CONNECTION } from './tollgate-connection.js';

class EmbeddedPostgresCloser implements OnApplicationShutdown {
  constructor(@Inject(EmbeddedPostgres) private readonly embedded: EmbeddedPostgres | null) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.embedded?.closeOnShutdown && !this.embedded.pglite.closed) await this.embedded.pglite.close();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: EmbeddedPostgres,
      inject: [TollgateConfig],
      useFactory: async (config: TollgateConfig): Promise<EmbeddedPostgres | null> =>
        config.embedded ? { pglite: await openPglite(join(config.dataDir, 'pg')), closeOnShutdown: true } : null,
    },
    { provide: EmbeddedPostgresCloser, useClass: EmbeddedPostgresCloser },
    DatabaseReadiness,
  ],
  exports: [EmbeddedPostgres, DatabaseReadiness],
})
class EmbeddedPostgresModule {}

/** Passes DatabaseReadiness from the options factory (where it can be injected) to the data source factory. */
const READINESS = Symbol('DatabaseReadiness');

/** TypeORM on Postgres (DATABASE_URL) or embedded PGlite; migrations run at start, never `synchronize`. */
@Module({
  imports: [
    EmbeddedPostgresModule,
    TypeOrmModule.forRootAsync({
      name: TOLLGATE_CONNECTION,
      imports: [EmbeddedPostgresModule],
      inject: [TollgateConfig, EmbeddedPostgres, DatabaseReadiness],
      useFactory: async (config: TollgateConfig, embedded: EmbeddedPostgres | null, readiness: DatabaseReadiness) => {
        // TypeORM loads pg itself; checked first so a missing optional peer is named like the others.
        if (embedded === null) await loadOptionalPeer('pg', 'PostgreSQL (the databaseUrl option, DATABASE_URL)', () => import('pg'));
        return {
          ...dataSourceOptions(config, embedded),
          name: TOLLGATE_CONNECTION,
          autoLoadEntities: true,
          // Outages are retried by DatabaseReadiness, in the background; these retries are for anything else.
          retryAttempts: 3,
          retryDelay: 1000,
          // dataSourceFactory opens it (or leaves it to DatabaseReadiness): @nestjs/typeorm must not.
          manualInitialization: true,
          [READINESS]: readiness,
        };
      },
      dataSourceFactory: async (options) => {
        const { [READINESS]: readiness, ...dataSourceOptions } = options as typeof options & { [READINESS]: DatabaseReadiness };
        const dataSource = new DataSource(dataSourceOptions as NonNullable<typeof options>);
        const embedded = dataSourceOptions.type === 'postgres' && dataSourceOptions.driver !== undefined;
        const schema = (dataSourceOptions as { schema?: string }).schema ?? 'public';
        try {
          const applied = await openDatabase(dataSource, { schema, embedded });
          if (applied.length > 0) new Logger('Database').log(`applied migrations: ${applied.join(', ')}`);
          readiness.markOpen();
        } catch (error) {
          // The embedded database is in this process: failing to open it is no outage to wait out.
          if (embedded || !isDatabaseUnavailable(error)) throw error;
          // Postgres is unreachable: start anyway (not ready), and open it when it comes back.
          readiness.openInBackground(dataSource, { schema, embedded }, error);
        }
        return dataSource;
      },
    }),
  ],
})
export class DatabaseModule {}
