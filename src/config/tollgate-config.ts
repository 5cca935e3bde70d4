import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { validateEnvironment } from './environment.js';
import { loadTierCatalog, parseRatePolicy, type RatePolicy, type TierCatalog } from './tier-catalog.js';

export interface StripeSettings {
  secretKey: string | null;
  webhookSecret: string | null;
  apiUrl: string | null;
}

/**
 * The validated configuration of one Tollgate process. It is its own injection token; build it with
 * `TollgateConfig.fromEnvironment()` (fails fast with a message naming the field) or `TollgateConfig.create()`.
 */
export class TollgateConfig {
  port = 3000;
  adminToken = '';
  /** True when no ADMIN_TOKEN was given and one was generated for this run (demo mode prints it). */
  adminTokenGenerated = false;
  databaseUrl: string | null = null;
  databaseSchema = 'public';
  dataDir = resolve('.tollgate');
  redisUrl: string | null = null;
  /** Namespace of every Redis key and channel, so several deployments (or test files) can share one Redis. */
  redisPrefix = 'tollgate';
  tiersPath = resolve('tiers.yaml');
  demo = false;
  stripe: StripeSettings = { secretKey: null, webhookSecret: null, apiUrl: null };
  syncCron = '0 * * * *';
  /** Client-side cap on Stripe calls per second (default: 20 in test mode, 900 in live mode). */
  stripeMaxRequestsPerSecond: number | null = null;
  /** First back-off after a 429/5xx from Stripe; doubles per attempt (capped at 5 s). */
  stripeRetryBaseMs = 150;
  /** Encrypts stored webhook secrets; unset → a key file in the data dir (instances must then share it). */
  encryptionKey: string | null = null;
  /** SMTP for notification emails; unset → emails are logged, not sent. */
  smtpUrl: string | null = null;
  emailFrom = 'Tollgate <billing@localhost>';
  /** Where operator alerts (billing drift) go: an email address and/or a webhook signed with its own secret. */
  operator: { email: string | null; webhookUrl: string | null; webhookSecret: string | null } = { email: null, webhookUrl: null, webhookSecret: null };
  /** First retry of a failed delivery after this long, doubling each time, until maxAttempts (then dead-lettered). */
  notificationRetryBaseMs = 2_000;
  notificationMaxAttempts = 8;
  /** How often the delivery worker looks for due deliveries. */
  notificationPollMs = 500;
  /** Reconciliation reports drift above this many units (per customer and meter) as billing.drift_detected. */
  driftThreshold = 0;
  /** When reconciliation runs on its own (compares local, pushed and Stripe totals; alerts on drift). */
  reconcileCron = '30 * * * *';
  /**
   * How long Stripe may take to show a meter event in its summaries ("Meters events are aggregated asynchronously
   * so the meter event summaries provide an eventually consistent view", MeterEventSummary). Stripe gives no
   * figure; reconciliation counts pushes younger than this as possibly not visible yet.
   */
  stripeSummaryDelayMs = 300_000;
  /**
   * The Stripe account's invoice finalization grace ("The default is set to 1 hour for all invoices", Stripe's
   * configure-grace-period): must match the account's setting. Usage pushed later lands on no invoice.
   */
  stripeFinalizationGraceMs = 3_600_000;
  /** A sync runs this long after a customer's period ends (and again when its late-event grace ends). */
  periodCloseSyncDelayMs = 60_000;
  /**
   * A closed period takes late events this long after its end. 50 min, not Stripe's whole 1 h finalization grace:
   * the period-close sync (1 min later) and its pushes must land before the invoice finalizes.
   */
  lateEventGraceMs = 3_000_000;
  /** Verifies the thin events Stripe sends to the event destination `/v1/billing/stripe/events`. */
  stripeEventDestinationSecret: string | null = null;
  /** When the rate-limit store faults (see below): admit (open, the default) or refuse with 503 (closed). */
  rateLimitFailureMode: 'open' | 'closed' = 'open';
  /**
   * How long a call to the rate-limit store may stay unanswered before it counts as a fault, counted in time this
   * process could have read the answer (a busy event loop does not use it up). Only a hung store reaches it.
   */
  rateLimitStoreTimeoutMs = 1_000;
  /** Store faults in a row that open the circuit breaker: calls then fail open/closed at once, without waiting. */
  rateLimitBreakerFaults = 3;
  /** How long an open breaker waits before one probe call tests the store again. */
  rateLimitBreakerCooldownMs = 1_000;
  /** `/v1/me/*`: per customer. */
  meRateLimit: RatePolicy = { limit: 60, windowSeconds: 60 };
  /** `/portal/api/*` with a session: per customer. */
  portalRateLimit: RatePolicy = { limit: 120, windowSeconds: 60 };
  /** Portal sign-in calls (API key, email link request and redemption): per client address. */
  portalSignInRateLimit: RatePolicy = { limit: 10, windowSeconds: 60 };
  /** `durable`: a metered response is sent once its event is durable. `async`: it does not wait. */
  meteringMode: 'durable' | 'async' = 'durable';
  /**
   * The largest quantity one usage event may carry (ingest API quantity, `@Metered` cost). Larger ones are
   * refused on their own (`quantity_limit`), before they can reach a batch shared with other customers.
   */
  maxEventQuantity = 1_000_000_000_000;
  /**
   * The largest total a usage counter (customer, meter, period) may reach. An event that would take it past
   * is refused on its own (`counter_limit`); the default keeps every total an exact JavaScript number.
   * At most 2^63 − 1 (Postgres bigint).
   */
  maxCounterTotal = BigInt(Number.MAX_SAFE_INTEGER);
  /**
   * The most the local spool (events held while the database is unreachable) may hold, in bytes (an event is
   * ~300 bytes: the default holds about 3 million). Past it, and when the disk refuses the write (full,
   * read-only), metered requests answer 503 `usage_unavailable` with Retry-After: never 2xx unrecorded.
   */
  spoolMaxBytes = 1024 * 1024 * 1024;
  /** Which response statuses count as billable (2xx by default). */
  meteredStatus: (status: number) => boolean = (status) => status >= 200 && status < 300;
  /** Active (unrevoked, unexpired, unreplaced) keys a customer may hold; creating one more answers 409. */
  maxKeysPerCustomer = 100;
  logLevel = 'info';
  /** Largest request body (bytes) of every route but the bulk ones; bigger bodies get 413 and are never held in memory past it. */
  bodyLimitBytes = 100 * 1024;
  /** Largest body of the bulk routes: `POST /v1/events` (up to 1000 events) and Stripe's webhooks. */
  bulkBodyLimitBytes = 2 * 1024 * 1024;
  /** A JSON body nesting deeper than this is refused (400 payload_too_deep) before it is parsed. */
  jsonMaxDepth = 32;
  /** A JSON body with an array or object of more entries is refused (400 payload_too_wide) before it is parsed. */
  jsonMaxWidth = 1000;
  /** Time a client has to send a request's headers (slow-header clients get 408 and are disconnected). */
  httpHeadersTimeoutMs = 20_000;
  /** Time a client has to send a whole request, headers and body. */
  httpRequestTimeoutMs = 30_000;
  /**
   * How long an idle keep-alive connection stays open. Above the idle timeout of the load balancer in front
   * (AWS ALB: 60 s), so the balancer, not Tollgate, closes idle connections: otherwise it may send a request
   * on a connection Tollgate is closing at that moment, and its client gets a 502.
   */
  httpKeepAliveTimeoutMs = 65_000;
  /**
   * After SIGTERM/SIGINT: how long open connections keep being served (each answer with `Connection: close`, so
   * clients and balancers leave) before idle ones are closed. Ends early once no connection is left.
   */
  httpShutdownGraceMs = 5_000;
  /**
   * Connections the kernel may hold for this process before it accepts them (Node's default is 511). A burst of
   * new connections while the event loop is busy overflows a short queue, and the overflow is answered late or
   * reset. Linux caps it at net.core.somaxconn (4096 on current kernels).
   */
  httpListenBacklog = 4096;
  publicUrl: string | null = null;
  catalog: TierCatalog = { tiers: [], meters: [], upgradeUrl: '/portal#upgrade' };

  get embedded(): boolean {
    return this.databaseUrl === null;
  }

  static create(values: Partial<TollgateConfig>): TollgateConfig {
    return Object.assign(new TollgateConfig(), values);
  }

  /** Reads and validates the environment; `catalog` skips loading TOLLGATE_TIERS (a host app passed one). */
  static fromEnvironment(env: Record<string, string | undefined> = process.env, given: { catalog?: TierCatalog } = {}): TollgateConfig {
    const vars = validateEnvironment(env);
    const tiersPath = resolve(vars.TOLLGATE_TIERS ?? 'tiers.yaml');
    const databaseUrl = vars.DATABASE_URL ?? null;
    return TollgateConfig.create({
      port: vars.PORT ?? 3000,
      adminToken: vars.ADMIN_TOKEN ?? randomBytes(24).toString('base64url'),
      adminTokenGenerated: vars.ADMIN_TOKEN === undefined,
      databaseUrl,
      databaseSchema: vars.DATABASE_SCHEMA ?? 'public',
      dataDir: resolve(vars.TOLLGATE_DATA_DIR ?? '.tollgate'),
      redisUrl: vars.REDIS_URL ?? null,
      redisPrefix: vars.REDIS_PREFIX ?? 'tollgate',
      tiersPath,
      demo: vars.TOLLGATE_DEMO ?? databaseUrl === null,
      stripe: {
        secretKey: vars.STRIPE_SECRET_KEY ?? null,
        webhookSecret: vars.STRIPE_WEBHOOK_SECRET ?? null,
        apiUrl: vars.STRIPE_API_URL ?? null,
      },
      syncCron: vars.TOLLGATE_SYNC_CRON ?? '0 * * * *',
      stripeEventDestinationSecret: vars.STRIPE_EVENT_DESTINATION_SECRET ?? null,
      rateLimitFailureMode: vars.RATE_LIMIT_FAILURE_MODE ?? 'open',
      // Unset: the class' defaults above.
      ...(vars.RATE_LIMIT_STORE_TIMEOUT_MS !== undefined && { rateLimitStoreTimeoutMs: vars.RATE_LIMIT_STORE_TIMEOUT_MS }),
      ...(vars.RATE_LIMIT_BREAKER_FAULTS !== undefined && { rateLimitBreakerFaults: vars.RATE_LIMIT_BREAKER_FAULTS }),
      ...(vars.RATE_LIMIT_BREAKER_COOLDOWN_MS !== undefined && { rateLimitBreakerCooldownMs: vars.RATE_LIMIT_BREAKER_COOLDOWN_MS }),
      ...(vars.RATE_LIMIT_ME !== undefined && { meRateLimit: parseRatePolicy(vars.RATE_LIMIT_ME)! }),
      ...(vars.RATE_LIMIT_PORTAL !== undefined && { portalRateLimit: parseRatePolicy(vars.RATE_LIMIT_PORTAL)! }),
      ...(vars.RATE_LIMIT_PORTAL_SIGN_IN !== undefined && { portalSignInRateLimit: parseRatePolicy(vars.RATE_LIMIT_PORTAL_SIGN_IN)! }),
      meteringMode: vars.TOLLGATE_METERING_MODE ?? 'durable',
      ...(vars.TOLLGATE_MAX_EVENT_QUANTITY !== undefined && { maxEventQuantity: vars.TOLLGATE_MAX_EVENT_QUANTITY }),
      ...(vars.TOLLGATE_MAX_COUNTER_TOTAL !== undefined && { maxCounterTotal: BigInt(vars.TOLLGATE_MAX_COUNTER_TOTAL) }),
      encryptionKey: vars.TOLLGATE_ENCRYPTION_KEY ?? null,
      smtpUrl: vars.SMTP_URL ?? null,
      emailFrom: vars.EMAIL_FROM ?? 'Tollgate <billing@localhost>',
      operator: {
        email: vars.OPERATOR_EMAIL ?? null,
        webhookUrl: vars.OPERATOR_WEBHOOK_URL ?? null,
        webhookSecret: vars.OPERATOR_WEBHOOK_SECRET ?? null,
      },
      logLevel: vars.LOG_LEVEL ?? 'info',
      publicUrl: vars.PUBLIC_URL ?? null,
      ...(vars.TOLLGATE_MAX_KEYS_PER_CUSTOMER !== undefined && { maxKeysPerCustomer: vars.TOLLGATE_MAX_KEYS_PER_CUSTOMER }),
      catalog: given.catalog ?? loadTierCatalog(tiersPath),
      // Unset ones keep the defaults written above.
      ...definedOnly({
        bodyLimitBytes: vars.TOLLGATE_BODY_LIMIT_BYTES,
        bulkBodyLimitBytes: vars.TOLLGATE_BULK_BODY_LIMIT_BYTES,
        jsonMaxDepth: vars.TOLLGATE_JSON_MAX_DEPTH,
        jsonMaxWidth: vars.TOLLGATE_JSON_MAX_WIDTH,
        httpHeadersTimeoutMs: vars.HTTP_HEADERS_TIMEOUT_MS,
        httpRequestTimeoutMs: vars.HTTP_REQUEST_TIMEOUT_MS,
        httpKeepAliveTimeoutMs: vars.HTTP_KEEP_ALIVE_TIMEOUT_MS,
        httpShutdownGraceMs: vars.HTTP_SHUTDOWN_GRACE_MS,
        httpListenBacklog: vars.HTTP_LISTEN_BACKLOG,
        spoolMaxBytes: vars.TOLLGATE_SPOOL_MAX_BYTES,
        reconcileCron: vars.TOLLGATE_RECONCILE_CRON,
        driftThreshold: vars.TOLLGATE_DRIFT_THRESHOLD,
        stripeSummaryDelayMs: vars.STRIPE_SUMMARY_DELAY_MS,
        stripeFinalizationGraceMs: vars.STRIPE_FINALIZATION_GRACE_MS,
        periodCloseSyncDelayMs: vars.TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS,
        lateEventGraceMs: vars.TOLLGATE_LATE_EVENT_GRACE_MS,
      }),
    });
  }
}

function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}
