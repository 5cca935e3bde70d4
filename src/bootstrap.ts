import { NestFactory } from '@nestjs/core';
import type { NestApplicationOptions } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { installBodyParsers } from './common/index.js';
import { applyHttpTimeouts } from './common/index.js';
import { createValidationPipe } from './common/index.js';
import { TollgateConfig } from './config/index.js';
import { databaseGate } from './database/index.js';
import { DatabaseReadiness } from './database/index.js';
import { JsonLogger } from './logging/index.js';
import { createOpenApiDocument } from './openapi.document.js';
import { RequestLoggingMiddleware } from './logging/index.js';

/**
 * Options every Tollgate app is created with (tests pass the same to `createNestApplication`). Nest's own body
 * parsers are off: configureApp installs ours, which check size, depth and width before parsing and keep the
 * raw body (`request.rawBody`, for Stripe's signature).
 */
export const APP_OPTIONS: NestApplicationOptions = { bufferLogs: true, bodyParser: false };

/** Everything the service sets on an app beyond its modules: logger, validation, body limits, timeouts, errors, docs. */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  const config = app.get(TollgateConfig);
  app.useLogger(app.get(JsonLogger));
  app.useGlobalPipes(createValidationPipe());
  // First of all: every answer, the gate's 503 and the body parsers' refusals included, has its X-Request-Id and access-log line.
  const requestLogging = app.get(RequestLoggingMiddleware);
  app.use(requestLogging.use.bind(requestLogging));
  // Before the body parsers: a request the database is needed for is refused before its body is read.
  app.use(databaseGate(app.get(DatabaseReadiness)));
  installBodyParsers(app, config);
  applyHttpTimeouts(app.getHttpServer(), config);
  app.disable('x-powered-by');
  // Whose X-Forwarded-For names the client (request.ip): the loopback proxy by default, TOLLGATE_TRUSTED_PROXIES otherwise.
  app.set('trust proxy', config.trustedProxies.split(',').map((entry) => entry.trim()));
  const document = createOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}

/** Starts serving on `port` (0: any free port) with the configured listen backlog; main.ts and the tests both start this way. */
export async function listen(app: NestExpressApplication, port: number, host: string): Promise<void> {
  // Nest passes its arguments on to http.Server#listen(port, host, backlog); its typings stop at the host.
  const listenWithBacklog = app.listen.bind(app) as unknown as (port: number, host: string, backlog: number) => Promise<unknown>;
  await listenWithBacklog(port, host, app.get(TollgateConfig).httpListenBacklog);
}

export async function createApp(options: AppModuleOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), APP_OPTIONS);
  // SIGTERM/SIGINT close the app: stop accepting, finish in-flight requests, then run shutdown hooks.
  return configureApp(app).enableShutdownHooks();
}
