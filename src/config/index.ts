// The config module's public surface: other folders import only from here (enforced by the boundary lint).
export { ConfigError, ConfigErrors } from './config.errors.js';
export { CUSTOM, DEFAULT_METER, loadTierCatalog, type MeterDefinition, type OveragePricing, parseRatePolicy, parseTierCatalog, type QuotaPolicy, type RatePolicy, type TierCatalog, type TierDefinition, type TierPrice } from './tier-catalog.js';
export { OperatorSettings, StripeSettings, TollgateConfig } from './tollgate-config.js';
export { resolveOptions, type TollgateOptions } from './tollgate-options.js';
// The one place Tollgate reads environment variables, from the object it is given.
export { configFromEnvironment, fromEnvironment } from './environment.js';
