import { NestFactory } from '@nestjs/core';
import type { NestApplicationOptions } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule, type AppModuleOptions } from './app.module.js';
import { createValidationPipe } from './common/validation.js';
import { JsonLogger } from './logging/json.logger.js';

/** Options every Tollgate app is created with (tests pass the same to `createNestApplication`). */
export const APP_OPTIONS: NestApplicationOptions = { bufferLogs: true, rawBody: true };

/** Everything the service sets on an app beyond its modules: logger, validation, errors, docs, shutdown. */
export function configureApp(app: NestExpressApplication): NestExpressApplication {
  app.useLogger(app.get(JsonLogger));
  app.useGlobalPipes(createValidationPipe());
  app.useBodyParser('json', { limit: '2mb' });
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Tollgate')
      .setDescription('API keys, tiers, rate limits, quotas, usage metering and Stripe billing')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'admin token' }, 'admin')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key' }, 'api-key')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}

export async function createApp(options: AppModuleOptions = {}): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), APP_OPTIONS);
  // SIGTERM/SIGINT close the app: stop accepting, finish in-flight requests, then run shutdown hooks.
  return configureApp(app).enableShutdownHooks();
}
