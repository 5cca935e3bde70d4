import type { Type } from '@nestjs/common';
import type { TollgateConfig, TollgateOptions } from './config/index.js';
import type { NotificationChannel } from './notifications/index.js';
import type { RateLimitStorage } from './rate-limit/index.js';

/**
 * Options of `MeteringModule.forRoot()` / `forRootAsync()`: every Tollgate setting (see TollgateOptions), each
 * defaulting as documented on TollgateConfig. The module reads no environment variable: pass
 * `fromEnvironment(process.env)` to configure it from the environment the way the service is.
 */
export interface MeteringModuleOptions extends TollgateOptions {
  /** A complete configuration (the billing service passes its own); the settings above are then ignored. */
  config?: TollgateConfig;
  /**
   * Where rate-limit state lives, like @nestjs/throttler's `storage`: an instance, or a class Nest builds with its
   * dependencies. Default: Redis when configured, else memory. Also honoured next to `config`.
   */
  rateLimitStorage?: RateLimitStorage | Type<RateLimitStorage>;
  /**
   * More ways to deliver notifications, after the built-in webhook and email (instances, or classes Nest builds with
   * their dependencies). Each delivery is retried and dead-lettered like the built-in ones. Also honoured next to `config`.
   */
  notificationChannels?: Array<NotificationChannel | Type<NotificationChannel>>;
}

/** Static choices about what the module mounts, given next to the options (also with forRootAsync). */
export interface MeteringModuleExtras {
  /** Register Tollgate's guards for every route (opt out per route with `@Public()`). Default true. */
  globalGuards: boolean;
}
