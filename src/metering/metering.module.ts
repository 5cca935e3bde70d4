import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { ScheduleModule } from '@nestjs/schedule';
import { ApiKeyGuard } from '../api-keys/api-key.guard.js';
import { ApiKeysModule } from '../api-keys/api-keys.module.js';
import { BillingModule } from '../billing/billing.module.js';
import { ConstantTimeComparator } from '../common/constant-time.js';
import { TollgateConfig } from '../config/tollgate-config.js';
import { resolveOptions } from '../config/tollgate-options.js';
import { CustomersModule } from '../customers/customers.module.js';
import { DatabaseModule } from '../database/database.module.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { RedisModule } from '../redis/redis.module.js';
import { MeteringCoreModule } from './metering-core.module.js';
import { QuotaGuard } from './quota.guard.js';
import { UsageModule } from './usage.module.js';
import { TierGuard } from '../tiers/tier.guard.js';
import { TiersModule } from '../tiers/tiers.module.js';
import {
  ConfigurableMeteringModule,
  METERING_ASYNC_OPTIONS_TYPE,
  METERING_MODULE_OPTIONS,
  METERING_OPTIONS_TYPE,
} from './metering-module-definition.js';
import type { MeteringModuleOptions } from './metering.options.js';

/** The order of the request path; per-controller users apply the same list with `@UseGuards(...TOLLGATE_GUARDS)`. */
export const TOLLGATE_GUARDS = [ApiKeyGuard, TierGuard, RateLimitGuard, QuotaGuard];

/** A complete configuration given (the service's, tests') or the options resolved and validated. */
function configFromOptions(options: MeteringModuleOptions): TollgateConfig {
  return options.config ?? resolveOptions(options, 'MeteringModule options');
}

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
      providers: [...(definition.providers ?? []), config, ConstantTimeComparator, ...guards],
      exports: [TollgateConfig, ConstantTimeComparator, TiersModule, CustomersModule, ApiKeysModule, MeteringCoreModule, RateLimitModule, UsageModule, BillingModule, NotificationsModule],
    };
  }
}
