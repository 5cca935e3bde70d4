import { join } from 'node:path';
import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { TollgateConfig } from '../config/tollgate-config.js';
import { dataSourceOptions } from './data-source.options.js';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { runMigrations } from './migrate.js';
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
  ],
  exports: [EmbeddedPostgres],
})
class EmbeddedPostgresModule {}

/** TypeORM on Postgres (DATABASE_URL) or embedded PGlite; migrations run at start, never `synchronize`. */
@Module({
  imports: [
    EmbeddedPostgresModule,
    TypeOrmModule.forRootAsync({
      name: TOLLGATE_CONNECTION,
      imports: [EmbeddedPostgresModule],
      inject: [TollgateConfig, EmbeddedPostgres],
      useFactory: (config: TollgateConfig, embedded: EmbeddedPostgres | null) => ({
        ...dataSourceOptions(config, embedded),
        name: TOLLGATE_CONNECTION,
        autoLoadEntities: true,
        retryAttempts: 3,
        retryDelay: 1000,
      }),
      dataSourceFactory: async (options) => {
        const dataSource = await new DataSource(options!).initialize();
        const embedded = options!.type === 'postgres' && options!.driver !== undefined;
        const schema = (options as { schema?: string }).schema ?? 'public';
        const applied = await runMigrations(dataSource, { schema, embedded });
        if (applied.length > 0) new Logger('Database').log(`applied migrations: ${applied.join(', ')}`);
        return dataSource;
      },
    }),
  ],
})
export class DatabaseModule {}
