import { resolve } from 'node:path';
import { validateSync, type ValidationError } from 'class-validator';
import { ConfigError, ConfigErrors } from './config.errors.js';
import { loadTierCatalog, parseRatePolicy, type RatePolicy, type TierCatalog } from './tier-catalog.js';
import { OperatorSettings, StripeSettings, TollgateConfig } from './tollgate-config.js';

/** Settings given in another shape than TollgateConfig holds them, or derived. */
type Reshaped = 'embedded' | 'adminTokenGenerated' | 'tiersPath' | 'catalog' | 'stripe' | 'operator' | 'meRateLimit' | 'portalRateLimit' | 'portalSignInRateLimit' | 'maxCounterTotal';

/**
 * Every setting of Tollgate, each optional: left out, TollgateConfig's default applies. Validated with the same
 * rules (and as clear messages) as the environment variables that map onto them (see `fromEnvironment()`).
 */
export interface TollgateOptions extends Partial<Omit<TollgateConfig, Reshaped>> {
  /** Path of the tier catalog, or an already parsed one. Default: ./tiers.yaml. */
  tiers?: string | TierCatalog;
  /** Where a refused caller is sent to upgrade (overrides the catalog's upgrade_url). */
  upgradeUrl?: string;
  stripe?: Partial<StripeSettings>;
  operator?: Partial<OperatorSettings>;
  /** A rate like "60/min", or parsed. */
  meRateLimit?: RatePolicy | string;
  portalRateLimit?: RatePolicy | string;
  portalSignInRateLimit?: RatePolicy | string;
  /** Up to 2^63 − 1 (Postgres bigint): a bigint, or a whole number as text. */
  maxCounterTotal?: bigint | number | string;
}

const RESHAPED_OPTIONS = ['tiers', 'upgradeUrl', 'stripe', 'operator', 'meRateLimit', 'portalRateLimit', 'portalSignInRateLimit', 'maxCounterTotal'];
const DERIVED = ['embedded', 'adminTokenGenerated', 'tiersPath', 'catalog'];
/** MeteringModule's own options, next to the settings: not part of the configuration. */
const MODULE_OPTIONS = ['config', 'globalGuards', 'rateLimitStorage', 'notificationChannels'];
/** What a value is shown as in an error: secrets and URLs (which may carry passwords) never are. */
const HIDDEN = /token|secret|encryptionKey|url/i;

function definedOnly<T extends object>(values: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(values ?? {}).filter(([, value]) => value !== undefined)) as Partial<T>;
}

const asRate = (value: RatePolicy | string | undefined) => (typeof value === 'string' ? (parseRatePolicy(value) ?? value) : value);
const asBigInt = (value: bigint | number | string | undefined) =>
  (typeof value === 'string' && /^-?\d+$/.test(value)) || (typeof value === 'number' && Number.isSafeInteger(value)) ? BigInt(value) : value;

/** Flattens class-validator's tree into `stripe.secretKey`-style paths with their first problem. */
function problemsOf(errors: ValidationError[], prefix = ''): Array<{ path: string; value: unknown; problem: string }> {
  return errors.flatMap((error) => {
    const path = `${prefix}${error.property}`;
    const own = error.constraints ? [{ path, value: error.value, problem: Object.values(error.constraints).join('; ') }] : [];
    return [...own, ...problemsOf(error.children ?? [], `${path}.`)];
  });
}

/**
 * Builds and validates the configuration from forRoot options. `source` and `nameOf` say how a problem is named:
 * `options: stripe.secretKey: …`, or (from fromEnvironment) `environment: STRIPE_SECRET_KEY: …`.
 */
export function resolveOptions(
  options: TollgateOptions,
  source = 'Tollgate options',
  nameOf: (path: string) => string = (path) => path,
): TollgateConfig {
  const known = new Set([...Object.keys(new TollgateConfig()), ...RESHAPED_OPTIONS, ...MODULE_OPTIONS]);
  const unknown = Object.keys(options).filter((key) => !known.has(key) || DERIVED.includes(key));
  if (unknown.length > 0) throw new ConfigErrors(unknown.map((key) => new ConfigError(source, key, 'is not an option')));

  const { tiers, upgradeUrl, stripe, operator, meRateLimit, portalRateLimit, portalSignInRateLimit, maxCounterTotal, ...given } = options;
  const plain = Object.fromEntries(Object.entries(given).filter(([key]) => !MODULE_OPTIONS.includes(key)));
  const config = Object.assign(new TollgateConfig(), definedOnly(plain), definedOnly({ meRateLimit: asRate(meRateLimit), portalRateLimit: asRate(portalRateLimit), portalSignInRateLimit: asRate(portalSignInRateLimit) }));
  if (maxCounterTotal !== undefined) (config as { maxCounterTotal: unknown }).maxCounterTotal = asBigInt(maxCounterTotal);
  config.stripe = Object.assign(new StripeSettings(), definedOnly(stripe));
  config.operator = Object.assign(new OperatorSettings(), definedOnly(operator));
  if (typeof config.dataDir === 'string') config.dataDir = resolve(config.dataDir);

  const errors = validateSync(config, { forbidUnknownValues: false, stopAtFirstError: true });
  const problems = problemsOf(errors);
  if (typeof tiers !== 'undefined' && typeof tiers !== 'string' && (typeof tiers !== 'object' || tiers === null)) {
    problems.push({ path: 'tiers', value: tiers, problem: 'must be the path of a tier catalog or a parsed one' });
  }
  if (config.ingestTransport === 'jetstream' && !config.natsUrl) {
    problems.push({ path: 'natsUrl', value: config.natsUrl, problem: 'is required when ingestTransport is "jetstream"' });
  }
  if (problems.length > 0) {
    throw new ConfigErrors(
      problems.map(({ path, value, problem }) => {
        const shown = HIDDEN.test(path) ? '(value hidden)' : typeof value === 'bigint' ? String(value) : JSON.stringify(value);
        return new ConfigError(source, nameOf(path), `${problem}, got ${shown}`);
      }),
    );
  }

  // The catalog last: its file is read only once every other setting is known to be good.
  if (typeof tiers === 'object') config.catalog = tiers;
  else {
    if (typeof tiers === 'string') config.tiersPath = resolve(tiers);
    config.catalog = loadTierCatalog(config.tiersPath);
  }
  if (upgradeUrl) config.catalog = { ...config.catalog, upgradeUrl };
  return config;
}
