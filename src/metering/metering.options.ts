import type { TollgateConfig } from '../config/tollgate-config.js';
import type { TollgateOptions } from '../config/tollgate-options.js';

/**
 * Options of `MeteringModule.forRoot()` / `forRootAsync()`: every Tollgate setting (see TollgateOptions), each
 * defaulting as documented on TollgateConfig. The module reads no environment variable: pass
 * `fromEnvironment(process.env)` to configure it from the environment the way the service is.
 */
export interface MeteringModuleOptions extends TollgateOptions {
  /** A complete configuration (the billing service passes its own); the settings above are then ignored. */
  config?: TollgateConfig;
}

/** Static choices about what the module mounts, given next to the options (also with forRootAsync). */
export interface MeteringModuleExtras {
  /** Register Tollgate's guards for every route (opt out per route with `@Public()`). Default true. */
  globalGuards: boolean;
}
