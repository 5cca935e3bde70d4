import type { TierCatalog } from './config/index.js';
import type { TollgateConfig } from './config/index.js';
import type { Type } from '@nestjs/common';
import type { NotificationChannel } from './notifications/index.js';
import type { RateLimitStorage } from './rate-limit/index.js';

/**
 * Options of `MeteringModule.forRoot()`. Anything left out falls back to the environment variables the
 * service reads (DATABASE_URL, REDIS_URL, TOLLGATE_TIERS, …) and then to their defaults.
 */
export class MeteringModuleOptions {
  /** Path of the tier catalog, or an already parsed one. Default: TOLLGATE_TIERS or ./tiers.yaml. */
  tiers?: string | TierCatalog;
  /** Postgres connection string; null forces the embedded database. Default: DATABASE_URL. */
  databaseUrl?: string | null;
  databaseSchema?: string;
  /** Embedded database and spool directory. Default: TOLLGATE_DATA_DIR or ./.tollgate. */
  dataDir?: string;
  /** Redis URL; null forces in-memory stores. Default: REDIS_URL. */
  redisUrl?: string | null;
  redisPrefix?: string;
  /** Rate-limit store unreachable or slower than 50 ms: admit ('open', default) or answer 503 ('closed'). */
  rateLimitFailureMode?: 'open' | 'closed';
  /** 'durable' (default): a metered response waits until its event is durable. 'async': it does not. */
  meteringMode?: 'durable' | 'async';
  /** Which statuses are billable; default 2xx. */
  meteredStatus?: (status: number) => boolean;
  /** Where a refused caller is sent to upgrade (overrides the catalog's upgrade_url). */
  upgradeUrl?: string;
  /** A complete configuration (the billing service passes its own); the fields above are then ignored. */
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
  /** Mount the billing service's HTTP API (admin routes, /v1/tiers, /v1/me). Default false. */
  serviceApi: boolean;
}
