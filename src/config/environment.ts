import { randomBytes } from 'node:crypto';
import type { TierCatalog } from './tier-catalog.js';
import type { TollgateConfig } from './tollgate-config.js';
import { resolveOptions, type TollgateOptions } from './tollgate-options.js';

type Parse = 'text' | 'integer' | 'boolean';

/**
 * The service's environment variables (README's configuration table), each the name of one option: parsing
 * maps the text onto it, and the option's own rules (TollgateConfig) validate it. No default is written here.
 */
export const ENVIRONMENT = {
  PORT: ['port', 'integer'],
  ADMIN_TOKEN: ['adminToken', 'text'],
  DATABASE_URL: ['databaseUrl', 'text'],
  DATABASE_SCHEMA: ['databaseSchema', 'text'],
  TOLLGATE_DATA_DIR: ['dataDir', 'text'],
  REDIS_URL: ['redisUrl', 'text'],
  REDIS_PREFIX: ['redisPrefix', 'text'],
  TOLLGATE_TRUSTED_PROXIES: ['trustedProxies', 'text'],
  TOLLGATE_TIERS: ['tiers', 'text'],
  TOLLGATE_DEMO: ['demo', 'boolean'],
  STRIPE_SECRET_KEY: ['stripe.secretKey', 'text'],
  STRIPE_WEBHOOK_SECRET: ['stripe.webhookSecret', 'text'],
  STRIPE_API_URL: ['stripe.apiUrl', 'text'],
  TOLLGATE_SYNC_CRON: ['syncCron', 'text'],
  TOLLGATE_RECONCILE_CRON: ['reconcileCron', 'text'],
  TOLLGATE_DRIFT_THRESHOLD: ['driftThreshold', 'integer'],
  STRIPE_SUMMARY_DELAY_MS: ['stripeSummaryDelayMs', 'integer'],
  STRIPE_FINALIZATION_GRACE_MS: ['stripeFinalizationGraceMs', 'integer'],
  TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS: ['periodCloseSyncDelayMs', 'integer'],
  TOLLGATE_LATE_EVENT_GRACE_MS: ['lateEventGraceMs', 'integer'],
  STRIPE_EVENT_DESTINATION_SECRET: ['stripeEventDestinationSecret', 'text'],
  RATE_LIMIT_FAILURE_MODE: ['rateLimitFailureMode', 'text'],
  RATE_LIMIT_STORE_TIMEOUT_MS: ['rateLimitStoreTimeoutMs', 'integer'],
  RATE_LIMIT_BREAKER_FAULTS: ['rateLimitBreakerFaults', 'integer'],
  RATE_LIMIT_BREAKER_COOLDOWN_MS: ['rateLimitBreakerCooldownMs', 'integer'],
  RATE_LIMIT_ME: ['meRateLimit', 'text'],
  RATE_LIMIT_PORTAL: ['portalRateLimit', 'text'],
  RATE_LIMIT_PORTAL_SIGN_IN: ['portalSignInRateLimit', 'text'],
  TOLLGATE_METERING_MODE: ['meteringMode', 'text'],
  TOLLGATE_INGEST_TRANSPORT: ['ingestTransport', 'text'],
  NATS_URL: ['natsUrl', 'text'],
  TOLLGATE_NATS_STREAM: ['natsStream', 'text'],
  TOLLGATE_NATS_REPLICAS: ['natsReplicas', 'integer'],
  TOLLGATE_NATS_DUPLICATE_WINDOW_MS: ['natsDuplicateWindowMs', 'integer'],
  TOLLGATE_MAX_EVENT_QUANTITY: ['maxEventQuantity', 'integer'],
  // Kept as text: the cap may be past what a JavaScript number holds exactly (up to Postgres' bigint).
  TOLLGATE_MAX_COUNTER_TOTAL: ['maxCounterTotal', 'text'],
  TOLLGATE_SPOOL_MAX_BYTES: ['spoolMaxBytes', 'integer'],
  TOLLGATE_LEDGER_RETENTION: ['ledgerRetentionMonths', 'integer'],
  TOLLGATE_LEDGER_ARCHIVE_DIR: ['ledgerArchiveDir', 'text'],
  TOLLGATE_ENCRYPTION_KEY: ['encryptionKey', 'text'],
  SMTP_URL: ['smtpUrl', 'text'],
  EMAIL_FROM: ['emailFrom', 'text'],
  OPERATOR_EMAIL: ['operator.email', 'text'],
  OPERATOR_WEBHOOK_URL: ['operator.webhookUrl', 'text'],
  OPERATOR_WEBHOOK_SECRET: ['operator.webhookSecret', 'text'],
  LOG_LEVEL: ['logLevel', 'text'],
  PUBLIC_URL: ['publicUrl', 'text'],
  TOLLGATE_MAX_KEYS_PER_CUSTOMER: ['maxKeysPerCustomer', 'integer'],
  TOLLGATE_BODY_LIMIT_BYTES: ['bodyLimitBytes', 'integer'],
  TOLLGATE_BULK_BODY_LIMIT_BYTES: ['bulkBodyLimitBytes', 'integer'],
  TOLLGATE_JSON_MAX_DEPTH: ['jsonMaxDepth', 'integer'],
  TOLLGATE_JSON_MAX_WIDTH: ['jsonMaxWidth', 'integer'],
  HTTP_HEADERS_TIMEOUT_MS: ['httpHeadersTimeoutMs', 'integer'],
  HTTP_REQUEST_TIMEOUT_MS: ['httpRequestTimeoutMs', 'integer'],
  HTTP_KEEP_ALIVE_TIMEOUT_MS: ['httpKeepAliveTimeoutMs', 'integer'],
  HTTP_SHUTDOWN_GRACE_MS: ['httpShutdownGraceMs', 'integer'],
  HTTP_LISTEN_BACKLOG: ['httpListenBacklog', 'integer'],
} as const satisfies Record<string, readonly [string, Parse]>;

export type EnvironmentVariable = keyof typeof ENVIRONMENT;
const OPTION_TO_VARIABLE = new Map<string, string>(Object.entries(ENVIRONMENT).map(([name, [path]]) => [path, name]));

/** Text to the option's type; text that is not one stays text, so the option's rule rejects it by name. */
function parse(value: string, as: Parse): unknown {
  if (as === 'integer') return /^-?\d+$/.test(value) ? Number(value) : value;
  if (as === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(value)) return true;
    if (/^(0|false|no|off)$/i.test(value)) return false;
  }
  return value;
}

/**
 * The options the environment sets: `MeteringModule.forRoot(fromEnvironment(process.env))`. The only place
 * Tollgate reads environment variables, and only from the object it is given; unset and empty ones are left
 * out (their defaults apply). Throws ConfigErrors naming each bad variable, as the service does at start-up.
 */
export function fromEnvironment(env: Record<string, string | undefined>): TollgateOptions {
  const options: Record<string, unknown> = {};
  for (const [name, [path, as]] of Object.entries(ENVIRONMENT)) {
    const text = env[name];
    if (text === undefined || text === '') continue;
    const [head, tail] = path.split('.');
    if (tail === undefined) options[head] = parse(text, as);
    else options[head] = { ...(options[head] as object | undefined), [tail]: parse(text, as) };
  }
  // Validated now, so a problem names the variable rather than the option; the tier catalog is read later.
  const { tiers: _tiers, ...rest } = options;
  resolveOptions({ ...rest, tiers: { tiers: [], meters: [], upgradeUrl: '/' } } as TollgateOptions, 'environment', (path) => OPTION_TO_VARIABLE.get(path) ?? path);
  return options as TollgateOptions;
}

/**
 * The service's configuration: the environment's options plus the service's own defaults (a generated admin token,
 * the demo on the embedded database). `catalog` skips loading TOLLGATE_TIERS (a caller passed one).
 */
export function configFromEnvironment(env: Record<string, string | undefined>, given: { catalog?: TierCatalog } = {}): TollgateConfig {
  const options = fromEnvironment(env);
  const adminTokenGenerated = options.adminToken === undefined;
  const config = resolveOptions({
    ...options,
    adminToken: options.adminToken ?? randomBytes(24).toString('base64url'),
    demo: options.demo ?? options.databaseUrl === undefined,
    ...(given.catalog && { tiers: given.catalog }),
  });
  config.adminTokenGenerated = adminTokenGenerated;
  return config;
}
