import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AdminModule } from './admin/index.js';
import { BillingApiModule } from './billing/api.js';
import { ApiExceptionFilter } from './common/index.js';
import { configFromEnvironment, type TollgateConfig } from './config/index.js';
import { DemoModule } from './demo/index.js';
import { HealthModule } from './health/index.js';
import type { LogSink } from './logging/index.js';
import { LoggingModule } from './logging/index.js';
import { UsageApiModule } from './metering/api.js';
import { MeteringModule } from './tollgate.module.js';
import { HttpMetricsMiddleware } from './metrics/index.js';
import { MetricsModule } from './metrics/index.js';
import { NotificationsApiModule } from './notifications/api.js';
import { PortalModule } from './portal/index.js';
import { ConsoleModule } from './console/index.js';
import { TiersApiModule } from './tiers/api.js';
import { VerifyApiModule } from './verify/api.js';

export interface AppModuleOptions {
  /** Defaults to reading process.env and tiers.yaml. */
  config?: TollgateConfig;
  logSink?: LogSink;
}

/** The billing service: the library's modules with their HTTP API, the demo API, and operations endpoints. */
@Module({})
export class AppModule implements NestModule {
  static forRoot(options: AppModuleOptions = {}): DynamicModule {
    const config = options.config ?? configFromEnvironment(process.env);
    return {
      module: AppModule,
      imports: [
        // The service guards per controller: admin routes use the admin token, the demo API uses API keys.
        MeteringModule.forRoot({ config, globalGuards: false }),
        // The service's HTTP API (each module mounts its own controllers) is composed here, never by the library:
        // `import 'tollgate'` does not load it.
        TiersApiModule,
        AdminModule,
        UsageApiModule,
        VerifyApiModule,
        BillingApiModule,
        NotificationsApiModule,
        PortalModule,
        ConsoleModule,
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
