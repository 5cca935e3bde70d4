import type { TierCatalog } from '../config/tier-catalog.js';
import type { TollgateConfig } from '../config/tollgate-config.js';

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
}

/** Static choices about what the module mounts, given next to the options (also with forRootAsync). */
export interface MeteringModuleExtras {
  /** Register Tollgate's guards for every route (opt out per route with `@Public()`). Default true. */
  globalGuards: boolean;
}
