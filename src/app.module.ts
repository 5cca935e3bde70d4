import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ApiExceptionFilter } from './common/index.js';
import { TollgateConfig } from './config/index.js';
import { DemoModule } from './demo/index.js';
import { HealthModule } from './health/index.js';
import type { LogSink } from './logging/index.js';
import { LoggingModule } from './logging/index.js';
import { MeteringModule } from './tollgate.module.js';
import { HttpMetricsMiddleware } from './metrics/index.js';
import { MetricsModule } from './metrics/index.js';

export interface AppModuleOptions {
  /** Defaults to reading process.env and tiers.yaml. */
  config?: TollgateConfig;
  logSink?: LogSink;
}

/** The billing service: the library's modules with their HTTP API, the demo API, and operations endpoints. */
@Module({})
export class AppModule implements NestModule {
  static forRoot(options: AppModuleOptions = {}): DynamicModule {
    const config = options.config ?? TollgateConfig.fromEnvironment();
    return {
      module: AppModule,
      imports: [
        // The service guards per controller: admin routes use the admin token, the demo API uses API keys.
        MeteringModule.forRoot({ config, serviceApi: true, globalGuards: false }),
        LoggingModule.forRoot(options.logSink),
        MetricsModule,
        HealthModule,
        ...(config.demo ? [DemoModule] : []),
      ],
      providers: [{ provide: APP_FILTER, useClass: ApiExceptionFilter }],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // Request ids and access logs are installed by configureApp, ahead of the body parsers and the database gate.
    consumer.apply(HttpMetricsMiddleware).forRoutes('*path');
  }
}
