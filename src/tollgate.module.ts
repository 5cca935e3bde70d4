import { type DynamicModule, Module, type Provider, type Type } from '@nestjs/common';
import { APP_GUARD, ModuleRef } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { ApiKeysModule } from './api-keys/index.js';
import { BillingModule } from './billing/index.js';
import { ConstantTimeComparator } from './common/index.js';
import { resolveOptions, TollgateConfig } from './config/index.js';
import { CustomersModule } from './customers/index.js';
import { DatabaseModule } from './database/index.js';
import { NotificationsModule } from './notifications/index.js';
import { RateLimitModule } from './rate-limit/index.js';
import { RedisModule } from './redis/index.js';
import { MeteringCoreModule } from './metering-core/index.js';
import { HOST_NOTIFICATION_CHANNELS } from './notifications/index.js';
import { HOST_RATE_LIMIT_STORAGE } from './rate-limit/index.js';
import { TOLLGATE_GUARDS, UsageModule } from './metering/index.js';
import { TiersModule } from './tiers/index.js';
import { ConfigurableMeteringModule, METERING_ASYNC_OPTIONS_TYPE, METERING_MODULE_OPTIONS, METERING_OPTIONS_TYPE } from './tollgate-module-definition.js';
import type { MeteringModuleOptions } from './tollgate.options.js';

// Defined beside the guards (metering), so modules under the root can use it without a cycle.
export { TOLLGATE_GUARDS };

/** A complete configuration given (the service's, tests') or the options resolved and validated. */
function configFromOptions(options: MeteringModuleOptions): TollgateConfig {
  return options.config ?? resolveOptions(options, 'MeteringModule options');
}

/** An extension given as an instance, or as a class Nest builds in this module (so it can inject Tollgate's services). */
function instanceOf<T extends object>(moduleRef: ModuleRef, given: T | Type<T>): Promise<T> | T {
  return typeof given === 'function' ? moduleRef.create(given) : given;
}

/** The host's extensions from the options: its rate-limit store and notification channels. */
const extensionProviders: Provider[] = [
  {
    provide: HOST_RATE_LIMIT_STORAGE,
    inject: [METERING_MODULE_OPTIONS, ModuleRef],
    useFactory: (options: MeteringModuleOptions, moduleRef: ModuleRef) => (options.rateLimitStorage ? instanceOf(moduleRef, options.rateLimitStorage) : null),
  },
  {
    provide: HOST_NOTIFICATION_CHANNELS,
    inject: [METERING_MODULE_OPTIONS, ModuleRef],
    useFactory: (options: MeteringModuleOptions, moduleRef: ModuleRef) => Promise.all((options.notificationChannels ?? []).map((channel) => instanceOf(moduleRef, channel))),
  },
];

/**
 * What a host app imports: API keys, tiers and (as later modules land) rate limits and metering, on
 * Tollgate's own database connection. `forRoot(options)` or `forRootAsync({ useFactory, inject })`.
 */
@Module({})
export class MeteringModule extends ConfigurableMeteringModule {
  static forRoot(options: typeof METERING_OPTIONS_TYPE): DynamicModule {
    return MeteringModule.compose(super.forRoot(options), options);
  }

  static forRootAsync(options: typeof METERING_ASYNC_OPTIONS_TYPE): DynamicModule {
    return MeteringModule.compose(super.forRootAsync(options), options);
  }

  private static compose(definition: DynamicModule, extras: Partial<typeof METERING_OPTIONS_TYPE>): DynamicModule {
    const globalGuards = extras.globalGuards ?? true;
    const config: Provider = {
      provide: TollgateConfig,
      inject: [METERING_MODULE_OPTIONS],
      useFactory: configFromOptions,
    };
    const guards: Provider[] = globalGuards ? TOLLGATE_GUARDS.map((guard) => ({ provide: APP_GUARD, useExisting: guard })) : [];
    return {
      ...definition,
      module: MeteringModule,
      global: true,
      imports: [
        ...(definition.imports ?? []),
        EventEmitterModule.forRoot(),
        ScheduleModule.forRoot(),
        RedisModule,
        DatabaseModule,
        TiersModule,
        CustomersModule,
        ApiKeysModule,
        MeteringCoreModule,
        RateLimitModule,
        UsageModule,
        BillingModule,
        NotificationsModule,
      ],
      providers: [...(definition.providers ?? []), config, ConstantTimeComparator, ...extensionProviders, ...guards],
      exports: [TollgateConfig, ConstantTimeComparator, HOST_RATE_LIMIT_STORAGE, HOST_NOTIFICATION_CHANNELS, TiersModule, CustomersModule, ApiKeysModule, MeteringCoreModule, RateLimitModule, UsageModule, BillingModule, NotificationsModule],
    };
  }
}
