import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DynamicModule, Type } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { AppModule } from '../../src/app.module.js';
import { APP_OPTIONS, configureApp, listen } from '../../src/bootstrap.js';
import { parseTierCatalog } from '../../src/config/tier-catalog.js';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { MemoryLogSink } from '../../src/logging/log-sink.js';
import { registerService } from './contract.js';
import type { TestDatabase } from './database.js';

export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const SEED_TIERS = readFileSync(new URL('../../tiers.yaml', import.meta.url), 'utf8');

/** A config for one test app: the seed catalog, the test's database, Redis when REDIS_URL is set. */
export function testConfig(database: TestDatabase | null, overrides: Partial<TollgateConfig> = {}): TollgateConfig {
  return TollgateConfig.create({
    port: 0,
    adminToken: TEST_ADMIN_TOKEN,
    databaseUrl: database?.databaseUrl ?? null,
    databaseSchema: database?.schema ?? 'public',
    dataDir: mkdtempSync(join(tmpdir(), 'tollgate-test-')),
    redisUrl: process.env.REDIS_URL ?? null,
    redisPrefix: `test:${randomBytes(4).toString('hex')}`,
    demo: false,
    logLevel: 'info',
    encryptionKey: 'test-encryption-key-0123456789abcdef-0123',
    catalog: parseTierCatalog(SEED_TIERS),
    ...overrides,
  });
}

export interface TestApp {
  app: NestExpressApplication;
  url: string;
  logs: MemoryLogSink;
  close(): Promise<void>;
}

/** Boots the service's AppModule (plus any extra modules) over HTTP on a random loopback port. */
export async function startTestApp(
  database: TestDatabase,
  options: {
    config?: TollgateConfig;
    imports?: Array<Type | DynamicModule>;
    /** Providers to replace: [token, value]. */
    overrides?: Array<[unknown, unknown]>;
  } = {},
): Promise<TestApp> {
  const config = options.config ?? testConfig(database);
  const logs = new MemoryLogSink();
  const builder = Test.createTestingModule({
    imports: [AppModule.forRoot({ config, logSink: logs }), ...(options.imports ?? [])],
  })
    .overrideProvider(EmbeddedPostgres)
    .useValue(database.embedded);
  for (const [token, value] of options.overrides ?? []) builder.overrideProvider(token).useValue(value);
  const moduleRef = await builder.compile();
  const app = configureApp(moduleRef.createNestApplication<NestExpressApplication>(APP_OPTIONS));
  // As the service listens (its backlog included), on a random loopback port.
  await listen(app, 0, '127.0.0.1');
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  // Its responses are checked against the OpenAPI document; extra modules mount test-only probe routes.
  registerService(url, { probes: (options.imports ?? []).length > 0 });
  return { app, url, logs, close: () => app.close() };
}
