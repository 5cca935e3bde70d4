// The server under load, run as a child process of bench/run.ts (compiled: dist/bench/support/server.js) so the
// load generator does not share its event loop. Reports `{ type: 'ready', port, apiKey }` over IPC.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Controller, type DynamicModule, Get, type INestApplication, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { APP_OPTIONS, configureApp } from '../../src/bootstrap.js';
import { applyHttpTimeouts, createValidationPipe } from '../../src/common/index.js';
import { databaseGate } from '../../src/database/database-gate.js';
import { DatabaseReadiness } from '../../src/database/database-readiness.js';
import { JsonLogger } from '../../src/logging/json.logger.js';
import { RequestLoggingMiddleware } from '../../src/logging/request-logging.middleware.js';
import {
  ApiKeyGuard,
  ApiKeysService,
  CustomersService,
  Metered,
  MeteringModule,
  Tier,
  TierGuard,
  TOLLGATE_GUARDS,
  TollgateConfig,
  UsageIngestor,
  parseTierCatalog,
} from '../../src/index.js';
import { TOLLGATE_CONNECTION } from '../../src/database/tollgate-connection.js';
import type { LogSink } from '../../src/logging/log-sink.js';
import { LoggingModule } from '../../src/logging/logging.module.js';
import { EventsController } from '../../src/metering/events.controller.js';
import { VerifyApiModule } from '../../src/verify/api.js';
import { PEER_KINDS, startPeerApp } from './peers-app.js';
import { JETSTREAM_ENV, PEERS_ENV, type ParentMessage, SERVER_ENV, type ServerMessage } from './protocol.js';

const SEED_TIERS = readFileSync(new URL('../../../tiers.yaml', import.meta.url), 'utf8');

/**
 * Set by the `ingest` scenario (bench/scenarios/ingest.ts), which must know both to build its requests:
 * the admin token for POST /v1/events, and the id of a customer the server creates for the events.
 */
const ADMIN_TOKEN_ENV = 'BENCH_ADMIN_TOKEN';
const INGEST_CUSTOMER_ENV = 'BENCH_INGEST_CUSTOMER_ID';

/** Log lines go to stderr (the parent forwards them); warnings and errors only, at logLevel 'warn'. */
class StderrLogSink implements LogSink {
  write(line: string): void {
    process.stderr.write(line);
  }
}

const BODY = { ok: true, service: 'bench' };

@Controller()
class BenchController {
  /** Baseline: the same handler with no guards. */
  @Get('bench/bare')
  bare(): typeof BODY {
    return BODY;
  }

  /** `/v1/basic/*` is the free tier's endpoint glob; the bench customer is on enterprise, which includes it. */
  @Get('v1/basic/bench')
  @UseGuards(ApiKeyGuard, TierGuard)
  @Tier('free')
  guarded(): typeof BODY {
    return BODY;
  }

  /** The full request path so far: key, tier and the per-tier rate limit (a limit the bench never reaches). */
  @Get('v1/basic/limited')
  @UseGuards(...TOLLGATE_GUARDS)
  @Tier('free')
  limited(): typeof BODY {
    return BODY;
  }

  /** Everything above plus the quota guard and durable metering: the response waits for its event's group commit. */
  @Get('v1/basic/metered')
  @UseGuards(...TOLLGATE_GUARDS)
  @Tier('free')
  @Metered('api_calls')
  metered(): typeof BODY {
    return BODY;
  }
}

@Module({})
class BenchServerModule {
  static forRoot(config: TollgateConfig): DynamicModule {
    return {
      module: BenchServerModule,
      // POST /v1/keys/verify (admin token or a `verify` key), as the service mounts it.
      imports: [MeteringModule.forRoot({ config, globalGuards: false }), LoggingModule.forRoot(new StderrLogSink()), VerifyApiModule],
      // POST /v1/events (admin token or an `ingest` key), as the service mounts it.
      controllers: [BenchController, EventsController],
    };
  }
}

function benchConfig(env: NodeJS.ProcessEnv): TollgateConfig {
  const jetstream = env[JETSTREAM_ENV] === '1' && Boolean(env[SERVER_ENV.natsUrl]);
  return TollgateConfig.create({
    port: 0,
    adminToken: env[ADMIN_TOKEN_ENV] || randomBytes(24).toString('base64url'),
    databaseUrl: env.DATABASE_URL || null,
    databaseSchema: env[SERVER_ENV.databaseSchema] || 'public',
    dataDir: env[SERVER_ENV.dataDir] || mkdtempSync(join(tmpdir(), 'tollgate-bench-')),
    redisUrl: env.REDIS_URL || null,
    redisPrefix: env[SERVER_ENV.redisPrefix] || `bench:${randomBytes(4).toString('hex')}`,
    demo: false,
    logLevel: 'warn',
    catalog: parseTierCatalog(SEED_TIERS),
    ...(jetstream && { ingestTransport: 'jetstream', natsUrl: env[SERVER_ENV.natsUrl], natsStream: env[SERVER_ENV.natsStream] }),
  });
}

/** The HTTP adapter the Tollgate app runs on (BENCH_ADAPTER): the service's Express set-up, or a Fastify host app. */
const ADAPTER_ENV = 'BENCH_ADAPTER';

/**
 * A Fastify host app with what the service's `configureApp` puts on the request path of a GET (logger, validation
 * pipe, access log with request id, database gate, socket timeouts, trust proxy on loopback); the body parsers and
 * the API docs are Express-only and no GET scenario reaches them.
 */
async function createFastifyApp(module: DynamicModule): Promise<INestApplication> {
  const { FastifyAdapter } = await import('@nestjs/platform-fastify');
  const app = await NestFactory.create(module, new FastifyAdapter({ trustProxy: 'loopback' }), { bufferLogs: true });
  app.useLogger(app.get(JsonLogger));
  app.useGlobalPipes(createValidationPipe());
  const requestLogging = app.get(RequestLoggingMiddleware);
  app.use(requestLogging.use.bind(requestLogging));
  app.use(databaseGate(app.get(DatabaseReadiness)));
  applyHttpTimeouts(app.getHttpServer(), app.get(TollgateConfig));
  return app;
}

async function createApp(module: DynamicModule, adapter: string | undefined): Promise<INestApplication> {
  if (adapter === 'fastify') return createFastifyApp(module);
  if (adapter && adapter !== 'express') throw new Error(`${ADAPTER_ENV} must be express or fastify, got "${adapter}"`);
  return configureApp(await NestFactory.create<NestExpressApplication>(module, APP_OPTIONS));
}

function report(message: ServerMessage): void {
  if (process.send) process.send(message);
  else process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** One Tollgate bench app, listening on a loopback port, with the bench customer's key (and, if asked, a 10/min one). */
interface TollgateApp {
  app: INestApplication;
  port: number;
  apiKey: string;
  /** Key of a customer limited to EXACT_LIMIT per minute (the peers scenario's exactness probe). */
  exactApiKey?: string;
}

/** The exactness probe's limit (bench/scenarios/peers.ts fires 200 concurrent requests at it). */
const EXACT_LIMIT = '10/min';

async function startTollgate(env: NodeJS.ProcessEnv, options: { name: string; exact: boolean; ingest: boolean }): Promise<TollgateApp> {
  const app = await createApp(BenchServerModule.forRoot(benchConfig(env)), env[ADAPTER_ENV]);
  app.enableShutdownHooks();

  const customers = app.get(CustomersService);
  const keys = app.get(ApiKeysService);
  const customer = await customers.create({
    name: options.name,
    tier: 'enterprise',
    overrides: { includedCalls: 100_000_000, rateLimit: ['100000000/min'] },
  });
  const { secret } = await keys.create(customer.id, { name: 'bench' });
  let exactApiKey: string | undefined;
  if (options.exact) {
    const limited = await customers.create({ name: `${options.name} exact`, tier: 'enterprise', overrides: { includedCalls: 100_000_000, rateLimit: [EXACT_LIMIT] } });
    exactApiKey = (await keys.create(limited.id, { name: 'bench exact' })).secret;
  }
  const ingestCustomerId = env[INGEST_CUSTOMER_ENV];
  if (options.ingest && ingestCustomerId) {
    // The id is the scenario's, so it can put it in its events: insert the row rather than let the service pick one.
    await app.get<DataSource>(getDataSourceToken(TOLLGATE_CONNECTION)).query(
      `INSERT INTO customers (id, name, tier, overrides) VALUES ($1, 'bench ingest', 'enterprise', $2::jsonb)`,
      [ingestCustomerId, JSON.stringify({ includedCalls: 1_000_000_000, rateLimit: ['100000000/min'] })],
    );
  }

  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  if (typeof address !== 'object' || !address) throw new Error('the server has no TCP address');
  return { app, port: address.port, apiKey: secret, exactApiKey };
}

/** The transport connects in the background (events take the direct path meanwhile): measure only once it streams. */
async function untilStreaming(app: INestApplication): Promise<void> {
  const ingestor = app.get(UsageIngestor);
  for (let waited = 0; ; waited += 100) {
    const status = await ingestor.transportStatus();
    if (status.transport === 'jetstream' && status.connected) return;
    if (waited > 30_000) throw new Error(`the jetstream transport did not connect to ${process.env[SERVER_ENV.natsUrl]} within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main(): Promise<void> {
  const peers = process.env[PEERS_ENV] === '1';
  const closers: Array<() => Promise<unknown>> = [];
  // The parent went away without stopping us (crashed, killed): do not linger.
  process.on('disconnect', () => void Promise.allSettled(closers.map((close) => close())).finally(() => process.exit(0)));
  process.on('message', (message: ParentMessage) => {
    if (message.type !== 'cpu-usage') return;
    const usage = process.cpuUsage();
    report({ type: 'cpu-usage', micros: usage.user + usage.system });
  });

  // The primary app always ingests the direct way; BENCH_JETSTREAM adds an app of its own for the jetstream transport.
  const primary = await startTollgate({ ...process.env, [JETSTREAM_ENV]: '' }, { name: 'bench', exact: peers, ingest: true });
  closers.push(() => primary.app.close());
  const extra: Record<string, string> = {};
  if (peers) {
    // The peers scenario: the same process also serves Tollgate with its in-memory store (a second app on its own
    // data dir; same schema when DATABASE_URL is set) and each peer in a tiny Nest app of its own.
    const dataDir = process.env[SERVER_ENV.dataDir] || mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
    const memoryDir = join(dataDir, 'memory');
    mkdirSync(memoryDir, { recursive: true });
    const memory = await startTollgate({ ...process.env, REDIS_URL: '', [SERVER_ENV.dataDir]: memoryDir }, { name: 'bench memory', exact: true, ingest: false });
    closers.push(() => memory.app.close());
    Object.assign(extra, { memoryPort: String(memory.port), memoryApiKey: memory.apiKey, memoryExactApiKey: memory.exactApiKey!, exactApiKey: primary.exactApiKey! });
    const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
    const prefix = process.env[SERVER_ENV.redisPrefix] || `bench:${randomBytes(4).toString('hex')}`;
    for (const kind of PEER_KINDS) {
      const peer = await startPeerApp(kind, redisUrl, prefix);
      closers.push(() => peer.close());
      extra[`${kind}Port`] = String(peer.port);
    }
  }
  if (process.env[JETSTREAM_ENV] === '1') {
    // The ingest-transport scenarios: a second app on the same database and Redis whose events go through the
    // JetStream stream (its consumer, in this process too, writes them to the ledger). Embedded: its own PGlite,
    // so it makes the ingest customer there as well.
    const dataDir = process.env[SERVER_ENV.dataDir] || mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
    const jetstreamDir = join(dataDir, 'jetstream');
    mkdirSync(jetstreamDir, { recursive: true });
    const jetstream = await startTollgate({ ...process.env, [SERVER_ENV.dataDir]: jetstreamDir }, { name: 'bench jetstream', exact: false, ingest: !process.env.DATABASE_URL });
    closers.push(() => jetstream.app.close());
    await untilStreaming(jetstream.app);
    Object.assign(extra, { jetstreamPort: String(jetstream.port), jetstreamApiKey: jetstream.apiKey, natsUrl: process.env[SERVER_ENV.natsUrl]!, natsStream: process.env[SERVER_ENV.natsStream]! });
  }
  report({ type: 'ready', port: primary.port, apiKey: primary.apiKey, extra });
}

main().catch((error: unknown) => {
  report({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
});
