import { type DynamicModule, type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AdminModule } from './admin/admin.module.js';
import { ApiExceptionFilter } from './common/api-exception.filter.js';
import { configFromEnvironment } from './config/environment.js';
import type { TollgateConfig } from './config/tollgate-config.js';
import { DemoModule } from './demo/demo.module.js';
import { HealthModule } from './health/health.module.js';
import type { LogSink } from './logging/log-sink.js';
import { LoggingModule } from './logging/logging.module.js';
import { RequestLoggingMiddleware } from './logging/request-logging.middleware.js';
import { MeteringModule } from './metering/metering.module.js';
import { HttpMetricsMiddleware } from './metrics/http-metrics.middleware.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { PortalModule } from './portal/portal.module.js';

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
        // The service's HTTP API is composed here, never by the library: `import 'tollgate'` does not load it.
        AdminModule,
        PortalModule,
        LoggingModule.forRoot(options.logSink),
        MetricsModule,
        HealthModule,
        ...(config.demo ? [DemoModule] : []),
      ],
      providers: [{ provide: APP_FILTER, useClass: ApiExceptionFilter }],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestLoggingMiddleware, HttpMetricsMiddleware).forRoutes('*path');
  }
}
