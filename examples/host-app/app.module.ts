import { type DynamicModule, Module } from '@nestjs/common';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { MeteringModule, type MeteringModuleOptions } from 'tollgate';
import { AdminReportController, ForecastController, StatusController, WeatherController } from './controllers.js';
import { UsageAlertsListener } from './usage-alerts.listener.js';

type MeteringAsyncOptions = Parameters<typeof MeteringModule.forRootAsync>[0];

/**
 * A host app: its own controllers plus Tollgate. Guards are global (the default), so every route is
 * authenticated by API key and checked against the caller's tier; `@Public()` opts a route out.
 */
@Module({})
export class HostAppModule {
  /** Options are passed through so the app (or a test) chooses database, Redis and tier catalog. */
  static forRoot(options: MeteringModuleOptions = {}): DynamicModule {
    return HostAppModule.with(MeteringModule.forRoot(options));
  }

  /** The same app with options resolved at start-up, e.g. from a config service or a secret store. */
  static forRootAsync(options: MeteringAsyncOptions): DynamicModule {
    return HostAppModule.with(MeteringModule.forRootAsync(options));
  }

  private static with(metering: DynamicModule): DynamicModule {
    return {
      module: HostAppModule,
      // The app has its own event bus (many do); Tollgate's domain events reach its listeners once.
      imports: [EventEmitterModule.forRoot(), metering],
      controllers: [WeatherController, ForecastController, AdminReportController, StatusController],
      providers: [UsageAlertsListener],
    };
  }
}
