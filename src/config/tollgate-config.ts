import { resolve } from 'node:path';
import { IsBoolean, IsEmail, IsIn, IsInt, IsObject, IsString, Matches, Max, Min, MinLength, ValidateBy, ValidateIf, ValidateNested } from 'class-validator';
import { BIGINT_MAX } from '../common/index.js';
import type { RatePolicy, TierCatalog } from './tier-catalog.js';

// Every setting is validated by the decorators below, whether it came from forRoot options or the environment
// (see environment.ts): one rule and one default per setting. class-validator checks the decorator nearest the
// property first, so the type check goes there.

/** Checks a value unless it is null (the "unset" of optional settings). */
const Nullable = () => ValidateIf((_object: object, value: unknown) => value !== null);
const CRON = /^(@(hourly|daily|weekly|monthly)|(\S+\s+){4,5}\S+)$/;
const isRatePolicy = (value: unknown) =>
  typeof value === 'object' && value !== null && Number.isSafeInteger((value as RatePolicy).limit) && (value as RatePolicy).limit > 0 &&
  Number.isSafeInteger((value as RatePolicy).windowSeconds) && (value as RatePolicy).windowSeconds > 0;
/** A rate like tiers.yaml's `rate_limit` ("60/min", "10/15min"), given as text or already parsed. */
const IsRatePolicy = () =>
  ValidateBy({ name: 'isRatePolicy', validator: { validate: isRatePolicy, defaultMessage: () => 'must be a rate like "60/min" (<count>/<sec|min|hour|day>)' } });
const IsFunction = () =>
  ValidateBy({ name: 'isFunction', validator: { validate: (value) => typeof value === 'function', defaultMessage: () => 'must be a function' } });
const Milliseconds = (min: number, max: number, maxNote = `must be at most ${max} (ms)`) => [
  Min(min, { message: `must be at least ${min} (ms)` }),
  Max(max, { message: maxNote }),
  IsInt({ message: 'must be a whole number of milliseconds' }),
];
const apply = (decorators: PropertyDecorator[]): PropertyDecorator => (target, key) => decorators.forEach((decorator) => decorator(target, key));

export class StripeSettings {
  /** Unset: Stripe is off and the usage sync dry-runs. */
  @Nullable()
  @Matches(/^(sk|rk)_(test|live)_\w+$/, { message: 'must look like sk_test_… or sk_live_…' })
  secretKey: string | null = null;
  /** Verifies `/v1/stripe/webhooks`. */
  @Nullable()
  @Matches(/^whsec_\w+$/, { message: 'must look like whsec_…' })
  webhookSecret: string | null = null;
  /** A local Stripe-compatible server (tests); unset: Stripe's own. */
  @Nullable()
  @Matches(/^https?:\/\/[^/\s]+\/?$/, { message: 'must be a base URL like http://127.0.0.1:12111' })
  apiUrl: string | null = null;
}

/** Where operator alerts (billing drift) go: an email address and/or a webhook signed with its own secret. */
export class OperatorSettings {
  @Nullable()
  @IsEmail({}, { message: 'must be an email address' })
  email: string | null = null;
  @Nullable()
  @Matches(/^https?:\/\/\S+$/, { message: 'must be an absolute http(s) URL' })
  webhookUrl: string | null = null;
  // Operator alerts are signed like customer webhooks; without a secret the receiver could not trust them.
  @ValidateIf((operator: OperatorSettings) => operator.webhookUrl !== null || operator.webhookSecret !== null)
  @MinLength(16, { message: 'must be at least 16 characters' })
  @IsString({ message: 'must be set when the operator webhook URL is' })
  webhookSecret: string | null = null;
}

/**
 * The validated configuration of one Tollgate process, and the class carrying every setting's default. It is its
 * own injection token; built from forRoot options by `resolveOptions()` and from the environment by
 * `configFromEnvironment()` (both fail fast naming the field), or unchecked by `TollgateConfig.create()` (tests).
 */
export class TollgateConfig {
  @Min(0, { message: 'must be a port number (0-65535)' })
  @Max(65535, { message: 'must be a port number (0-65535)' })
  @IsInt({ message: 'must be a whole number' })
  port = 3000;
  // Empty: no admin API (the library never mounts one).
  @ValidateIf((config: TollgateConfig) => config.adminToken !== '')
  @MinLength(16, { message: 'must be at least 16 characters' })
  @IsString()
  adminToken = '';
  /** True when no ADMIN_TOKEN was given and one was generated for this run (demo mode prints it). */
  adminTokenGenerated = false;
  @Nullable()
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// connection string' })
  databaseUrl: string | null = null;
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'must be a plain lower-case schema name' })
  databaseSchema = 'public';
  @IsString()
  dataDir = resolve('.tollgate');
  @Nullable()
  @Matches(/^rediss?:\/\/\S+$/, { message: 'must be a redis:// URL' })
  redisUrl: string | null = null;
  /** Namespace of every Redis key and channel, so several deployments (or test files) can share one Redis. */
  @Matches(/^[A-Za-z0-9_:-]{1,64}$/, { message: 'must be 1-64 letters, digits, "_", ":" or "-"' })
  redisPrefix = 'tollgate';
  /**
   * The service's Express `trust proxy`: whose X-Forwarded-For decides the client address (`request.ip`, used by key
   * IP allowlists and per-IP limits). Comma-separated `loopback`, `linklocal`, `uniquelocal`, addresses or CIDRs.
   */
  @Matches(/^[A-Za-z0-9.:/]{1,64}(?:\s*,\s*[A-Za-z0-9.:/]{1,64}){0,49}$/, { message: 'must be comma-separated addresses, CIDRs or loopback / linklocal / uniquelocal' })
  trustedProxies = 'loopback';
  @IsString()
  tiersPath = resolve('tiers.yaml');
  @IsBoolean({ message: 'must be true or false' })
  demo = false;
  @ValidateNested()
  stripe: StripeSettings = new StripeSettings();
  @Matches(CRON, { message: 'must be a cron expression like "0 * * * *"' })
  syncCron = '0 * * * *';
  /** Client-side cap on Stripe calls per second (default: 20 in test mode, 900 in live mode). */
  @Nullable()
  @Min(1, { message: 'must be at least 1' })
  @IsInt({ message: 'must be a whole number' })
  stripeMaxRequestsPerSecond: number | null = null;
  /** First back-off after a 429/5xx from Stripe; doubles per attempt (capped at 5 s). */
  @apply(Milliseconds(1, 60_000))
  stripeRetryBaseMs = 150;
  /** Encrypts stored webhook secrets; unset → a key file in the data dir (instances must then share it). */
  @Nullable()
  @MinLength(32, { message: 'must be at least 32 characters' })
  @IsString()
  encryptionKey: string | null = null;
  /** SMTP for notification emails; unset → emails are logged, not sent. */
  @Nullable()
  @Matches(/^smtps?:\/\/\S+$/, { message: 'must be an smtp:// or smtps:// URL' })
  smtpUrl: string | null = null;
  @IsString()
  emailFrom = 'Tollgate <billing@localhost>';
  /** Where operator alerts (billing drift) go: an email address and/or a webhook signed with its own secret. */
  @ValidateNested()
  operator: OperatorSettings = new OperatorSettings();
  /** First retry of a failed delivery after this long, doubling each time, until maxAttempts (then dead-lettered). */
  @apply(Milliseconds(1, 86_400_000))
  notificationRetryBaseMs = 2_000;
  @Min(1, { message: 'must be at least 1' })
  @IsInt({ message: 'must be a whole number' })
  notificationMaxAttempts = 8;
  /** How often the delivery worker looks for due deliveries. */
  @apply(Milliseconds(1, 60_000))
  notificationPollMs = 500;
  /** Reconciliation reports drift above this many units (per customer and meter) as billing.drift_detected. */
  @Min(0, { message: 'must be at least 0' })
  @IsInt({ message: 'must be a whole number of units' })
  driftThreshold = 0;
  /** When reconciliation runs on its own (compares local, pushed and Stripe totals; alerts on drift). */
  @Matches(CRON, { message: 'must be a cron expression like "30 * * * *"' })
  reconcileCron = '30 * * * *';
  /**
   * How long Stripe may take to show a meter event in its summaries ("Meters events are aggregated asynchronously
   * so the meter event summaries provide an eventually consistent view", MeterEventSummary). Stripe gives no
   * figure; reconciliation counts pushes younger than this as possibly not visible yet.
   */
  @apply(Milliseconds(0, 86_400_000, 'must be at most 86400000 (ms, one day)'))
  stripeSummaryDelayMs = 300_000;
  /**
   * The Stripe account's invoice finalization grace ("The default is set to 1 hour for all invoices", Stripe's
   * configure-grace-period): must match the account's setting. Usage pushed later lands on no invoice.
   */
  @apply(Milliseconds(0, 259_200_000, 'must be at most 259200000 (ms): Stripe allows a grace of up to 72 hours'))
  stripeFinalizationGraceMs = 3_600_000;
  /** A sync runs this long after a customer's period ends (and again when its late-event grace ends). */
  @apply(Milliseconds(0, 259_200_000))
  periodCloseSyncDelayMs = 60_000;
  /**
   * A closed period takes late events this long after its end. 50 min, not Stripe's whole 1 h finalization grace:
   * the period-close sync (1 min later) and its pushes must land before the invoice finalizes.
   */
  @apply(Milliseconds(0, 259_200_000))
  lateEventGraceMs = 3_000_000;
  /** Verifies the thin events Stripe sends to the event destination `/v1/billing/stripe/events`. */
  @Nullable()
  @Matches(/^whsec_\w+$/, { message: 'must look like whsec_…' })
  stripeEventDestinationSecret: string | null = null;
  /** When the rate-limit store faults (see below): admit (open, the default) or refuse with 503 (closed). */
  @IsIn(['open', 'closed'], { message: 'must be "open" or "closed"' })
  rateLimitFailureMode: 'open' | 'closed' = 'open';
  /**
   * How long a call to the rate-limit store may stay unanswered before it counts as a fault, counted in time this
   * process could have read the answer (a busy event loop does not use it up). Only a hung store reaches it.
   */
  @apply(Milliseconds(100, 60_000))
  rateLimitStoreTimeoutMs = 1_000;
  /** Store faults in a row that open the circuit breaker: calls then fail open/closed at once, without waiting. */
  @Min(1, { message: 'must be at least 1' })
  @Max(1000, { message: 'must be at most 1000' })
  @IsInt({ message: 'must be a whole number' })
  rateLimitBreakerFaults = 3;
  /** How long an open breaker waits before one probe call tests the store again. */
  @apply(Milliseconds(100, 600_000))
  rateLimitBreakerCooldownMs = 1_000;
  /** `/v1/me/*`: per customer. */
  @IsRatePolicy()
  meRateLimit: RatePolicy = { limit: 60, windowSeconds: 60 };
  /** `/portal/api/*` with a session: per customer. */
  @IsRatePolicy()
  portalRateLimit: RatePolicy = { limit: 120, windowSeconds: 60 };
  /** Portal sign-in calls (API key, email link request and redemption): per client address. */
  @IsRatePolicy()
  portalSignInRateLimit: RatePolicy = { limit: 10, windowSeconds: 60 };
  /** `durable`: a metered response is sent once its event is durable. `async`: it does not wait. */
  @IsIn(['durable', 'async'], { message: 'must be "durable" or "async"' })
  meteringMode: 'durable' | 'async' = 'durable';
  /**
   * How usage events reach the ledger. `direct`: group commit into the database (the local spool while it is away).
   * `jetstream`: a metered request's durable answer is the publish ack of a NATS JetStream stream, from which every
   * instance's durable pull consumer writes the ledger (the direct path is the fallback while NATS is away).
   */
  @IsIn(['direct', 'jetstream'], { message: 'must be "direct" or "jetstream"' })
  ingestTransport: 'direct' | 'jetstream' = 'direct';
  /** NATS server(s) for the jetstream transport, comma-separated (`nats://host:4222`). Required with it. */
  @Nullable()
  @Matches(/^(nats|tls):\/\/\S+$/, { message: 'must be a nats:// URL (comma-separated for a cluster)' })
  natsUrl: string | null = null;
  /** The JetStream stream (and subject prefix) usage goes through: one per deployment sharing a NATS. */
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'must be 1-64 letters, digits, "_" or "-"' })
  natsStream = 'TOLLGATE_USAGE';
  /** Stream replicas (1 on a single NATS server; 3 on a cluster survives losing one server). */
  @Min(1, { message: 'must be 1, 3 or 5' })
  @Max(5, { message: 'must be 1, 3 or 5' })
  @IsInt({ message: 'must be 1, 3 or 5' })
  natsReplicas = 1;
  /** How long the stream remembers a message id to drop a re-published event (JetStream's `duplicate_window`). */
  @Min(1_000, { message: 'must be between 1000 and 86400000 (ms)' })
  @Max(86_400_000, { message: 'must be between 1000 and 86400000 (ms)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  natsDuplicateWindowMs = 120_000;
  /**
   * The largest quantity one usage event may carry (ingest API quantity, `@Metered` cost). Larger ones are
   * refused on their own (`quantity_limit`), before they can reach a batch shared with other customers.
   */
  @Min(1, { message: 'must be a whole number from 1 to 9007199254740991' })
  @Max(Number.MAX_SAFE_INTEGER, { message: 'must be a whole number from 1 to 9007199254740991' })
  @IsInt({ message: 'must be a whole number' })
  maxEventQuantity = 1_000_000_000_000;
  /**
   * The largest total a usage counter (customer, meter, period) may reach. An event that would take it past
   * is refused on its own (`counter_limit`); the default keeps every total an exact JavaScript number.
   * At most 2^63 − 1 (Postgres bigint).
   */
  @ValidateBy({
    name: 'bigintColumnValue',
    validator: { validate: (value: unknown) => typeof value === 'bigint' && value >= 1n && value <= BIGINT_MAX, defaultMessage: () => `must be a whole number from 1 to ${BIGINT_MAX}` },
  })
  maxCounterTotal = BigInt(Number.MAX_SAFE_INTEGER);
  /**
   * The most the local spool (events held while the database is unreachable) may hold, in bytes (an event is
   * ~300 bytes: the default holds about 3 million). Past it, and when the disk refuses the write (full,
   * read-only), metered requests answer 503 `usage_unavailable` with Retry-After: never 2xx unrecorded.
   */
  @Min(1024, { message: 'must be at least 1024 (bytes)' })
  @Max(Number.MAX_SAFE_INTEGER, { message: 'must be a whole number of bytes' })
  @IsInt({ message: 'must be a whole number of bytes' })
  spoolMaxBytes = 1024 * 1024 * 1024;
  /**
   * Months the raw ledger (usage_events) is kept after a period's invoice is final: then its monthly partition is
   * exported to ledgerArchiveDir and dropped (counters and daily rollups stay). 0 keeps every event forever.
   */
  @Min(0, { message: 'must be between 0 and 1200 (months)' })
  @Max(1200, { message: 'must be between 0 and 1200 (months)' })
  @IsInt({ message: 'must be a whole number of months' })
  ledgerRetentionMonths = 0;
  /** Where expired ledger partitions are written (gzip JSON lines) before they are dropped; null: `<dataDir>/ledger-archive`. */
  @Nullable()
  @IsString()
  ledgerArchiveDir: string | null = null;
  /** Which response statuses count as billable (2xx by default). */
  @IsFunction()
  meteredStatus: (status: number) => boolean = (status) => status >= 200 && status < 300;
  /** Active (unrevoked, unexpired, unreplaced) keys a customer may hold; creating one more answers 409. */
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100_000, { message: 'must be between 1 and 100000' })
  @IsInt({ message: 'must be a whole number' })
  maxKeysPerCustomer = 100;
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be one of fatal, error, warn, info, debug, trace, silent' })
  logLevel = 'info';
  /** Largest request body (bytes) of every route but the bulk ones; bigger bodies get 413 and are never held in memory past it. */
  @Min(1024, { message: 'must be at least 1024 (bytes)' })
  @Max(64 * 1024 * 1024, { message: 'must be at most 67108864 (64 MiB)' })
  @IsInt({ message: 'must be a whole number of bytes' })
  bodyLimitBytes = 100 * 1024;
  /** Largest body of the bulk routes: `POST /v1/events` (up to 1000 events) and Stripe's webhooks. */
  @Min(1024, { message: 'must be at least 1024 (bytes)' })
  @Max(64 * 1024 * 1024, { message: 'must be at most 67108864 (64 MiB)' })
  @IsInt({ message: 'must be a whole number of bytes' })
  bulkBodyLimitBytes = 2 * 1024 * 1024;
  /** A JSON body nesting deeper than this is refused (400 payload_too_deep) before it is parsed. */
  @Min(2, { message: 'must be between 2 and 512' })
  @Max(512, { message: 'must be between 2 and 512' })
  @IsInt({ message: 'must be a whole number' })
  jsonMaxDepth = 32;
  /** A JSON body with an array or object of more entries is refused (400 payload_too_wide) before it is parsed. */
  @Min(1, { message: 'must be at least 1' })
  @IsInt({ message: 'must be a whole number' })
  jsonMaxWidth = 1000;
  /** Time a client has to send a request's headers (slow-header clients get 408 and are disconnected). */
  @Min(1000, { message: 'must be at least 1000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  httpHeadersTimeoutMs = 20_000;
  /** Time a client has to send a whole request, headers and body. */
  @Min(1000, { message: 'must be at least 1000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  httpRequestTimeoutMs = 30_000;
  /**
   * How long an idle keep-alive connection stays open. Above the idle timeout of the load balancer in front
   * (AWS ALB: 60 s), so the balancer, not Tollgate, closes idle connections: otherwise it may send a request
   * on a connection Tollgate is closing at that moment, and its client gets a 502.
   */
  @Min(1000, { message: 'must be at least 1000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  httpKeepAliveTimeoutMs = 65_000;
  /**
   * After SIGTERM/SIGINT: how long open connections keep being served (each answer with `Connection: close`, so
   * clients and balancers leave) before idle ones are closed. Ends early once no connection is left.
   */
  @Min(0, { message: 'must be 0 or more (milliseconds)' })
  @Max(600_000, { message: 'must be at most 600000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  httpShutdownGraceMs = 5_000;
  /**
   * Connections the kernel may hold for this process before it accepts them (Node's default is 511). A burst of
   * new connections while the event loop is busy overflows a short queue, and the overflow is answered late or
   * reset. Linux caps it at net.core.somaxconn (4096 on current kernels).
   */
  @Min(1, { message: 'must be between 1 and 65535' })
  @Max(65_535, { message: 'must be between 1 and 65535' })
  @IsInt({ message: 'must be a whole number' })
  httpListenBacklog = 4096;
  @Nullable()
  @Matches(/^https?:\/\/\S+$/, { message: 'must be an absolute http(s) URL' })
  publicUrl: string | null = null;
  @IsObject()
  catalog: TierCatalog = { tiers: [], meters: [], upgradeUrl: '/portal#upgrade' };

  get embedded(): boolean {
    return this.databaseUrl === null;
  }

  static create(values: Partial<TollgateConfig>): TollgateConfig {
    return Object.assign(new TollgateConfig(), values);
  }
}
