import { ConfigErrors } from './config.errors.js';
import { configFromEnvironment, fromEnvironment } from './environment.js';

function fieldsRejected(env: Record<string, string>): string[] {
  try {
    fromEnvironment(env);
  } catch (error) {
    return (error as ConfigErrors).errors.map((e) => e.field);
  }
  return [];
}

describe('environment validation', () => {
  it('accepts an empty environment (embedded defaults)', () => {
    expect(fieldsRejected({})).toEqual([]);
  });

  it.each([
    [{ PORT: 'eighty' }, ['PORT']],
    [{ PORT: '70000' }, ['PORT']],
    [{ DATABASE_URL: 'mysql://x' }, ['DATABASE_URL']],
    [{ REDIS_URL: 'localhost:6379' }, ['REDIS_URL']],
    [{ TOLLGATE_DEMO: 'maybe' }, ['TOLLGATE_DEMO']],
    [{ ADMIN_TOKEN: 'short' }, ['ADMIN_TOKEN']],
    [{ STRIPE_SECRET_KEY: 'pk_test_123' }, ['STRIPE_SECRET_KEY']],
    [{ STRIPE_API_URL: 'not a url' }, ['STRIPE_API_URL']],
    [{ TOLLGATE_SYNC_CRON: 'every hour' }, ['TOLLGATE_SYNC_CRON']],
    [{ PORT: 'x', REDIS_URL: 'y' }, ['PORT', 'REDIS_URL']],
    [{ OPERATOR_EMAIL: 'ops' }, ['OPERATOR_EMAIL']],
    [{ TOLLGATE_MAX_EVENT_QUANTITY: '0' }, ['TOLLGATE_MAX_EVENT_QUANTITY']],
    [{ TOLLGATE_MAX_EVENT_QUANTITY: '9007199254740992' }, ['TOLLGATE_MAX_EVENT_QUANTITY']],
    [{ TOLLGATE_MAX_EVENT_QUANTITY: '1e12' }, ['TOLLGATE_MAX_EVENT_QUANTITY']],
    [{ TOLLGATE_MAX_COUNTER_TOTAL: '9223372036854775808' }, ['TOLLGATE_MAX_COUNTER_TOTAL']],
    [{ TOLLGATE_MAX_COUNTER_TOTAL: '-1' }, ['TOLLGATE_MAX_COUNTER_TOTAL']],
    [{ OPERATOR_WEBHOOK_URL: 'https://ops.example/hooks' }, ['OPERATOR_WEBHOOK_SECRET']],
    [{ OPERATOR_WEBHOOK_URL: 'https://ops.example/hooks', OPERATOR_WEBHOOK_SECRET: 'short' }, ['OPERATOR_WEBHOOK_SECRET']],
    [{ TOLLGATE_MAX_KEYS_PER_CUSTOMER: '0' }, ['TOLLGATE_MAX_KEYS_PER_CUSTOMER']],
    [{ TOLLGATE_MAX_KEYS_PER_CUSTOMER: 'many' }, ['TOLLGATE_MAX_KEYS_PER_CUSTOMER']],
    [{ TOLLGATE_BODY_LIMIT_BYTES: '100kb' }, ['TOLLGATE_BODY_LIMIT_BYTES']],
    [{ TOLLGATE_BULK_BODY_LIMIT_BYTES: '10' }, ['TOLLGATE_BULK_BODY_LIMIT_BYTES']],
    [{ TOLLGATE_JSON_MAX_DEPTH: '100000' }, ['TOLLGATE_JSON_MAX_DEPTH']],
    [{ TOLLGATE_JSON_MAX_WIDTH: '0' }, ['TOLLGATE_JSON_MAX_WIDTH']],
    [{ HTTP_HEADERS_TIMEOUT_MS: '5s' }, ['HTTP_HEADERS_TIMEOUT_MS']],
    [{ HTTP_REQUEST_TIMEOUT_MS: '10' }, ['HTTP_REQUEST_TIMEOUT_MS']],
    [{ HTTP_KEEP_ALIVE_TIMEOUT_MS: '-1' }, ['HTTP_KEEP_ALIVE_TIMEOUT_MS']],
    [{ TOLLGATE_RECONCILE_CRON: 'hourly' }, ['TOLLGATE_RECONCILE_CRON']],
    [{ TOLLGATE_DRIFT_THRESHOLD: '-1' }, ['TOLLGATE_DRIFT_THRESHOLD']],
    [{ STRIPE_SUMMARY_DELAY_MS: '5min' }, ['STRIPE_SUMMARY_DELAY_MS']],
    [{ STRIPE_FINALIZATION_GRACE_MS: '260000000' }, ['STRIPE_FINALIZATION_GRACE_MS']],
    [{ TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS: '-5' }, ['TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS']],
    [{ STRIPE_EVENT_DESTINATION_SECRET: 'secret' }, ['STRIPE_EVENT_DESTINATION_SECRET']],
    [{ TOLLGATE_INGEST_TRANSPORT: 'kafka' }, ['TOLLGATE_INGEST_TRANSPORT']],
    [{ TOLLGATE_INGEST_TRANSPORT: 'jetstream' }, ['NATS_URL']],
    [{ TOLLGATE_INGEST_TRANSPORT: 'jetstream', NATS_URL: 'http://127.0.0.1:4222' }, ['NATS_URL']],
    [{ TOLLGATE_NATS_STREAM: 'usage.events' }, ['TOLLGATE_NATS_STREAM']],
    [{ TOLLGATE_NATS_REPLICAS: '7' }, ['TOLLGATE_NATS_REPLICAS']],
    [{ TOLLGATE_NATS_DUPLICATE_WINDOW_MS: '10' }, ['TOLLGATE_NATS_DUPLICATE_WINDOW_MS']],
  ])('rejects %j naming %j', (env, fields) => {
    expect(fieldsRejected(env)).toEqual(fields);
  });

  it('accepts operator alert settings', () => {
    expect(
      fieldsRejected({ OPERATOR_EMAIL: 'ops@example.com', OPERATOR_WEBHOOK_URL: 'https://ops.example/hooks', OPERATOR_WEBHOOK_SECRET: 'whsec_operator_0123456789' }),
    ).toEqual([]);
    const config = configFromEnvironment({ OPERATOR_EMAIL: 'ops@example.com' }, { catalog: { tiers: [], meters: [], upgradeUrl: '/' } });
    expect(config.operator).toEqual({ email: 'ops@example.com', webhookUrl: null, webhookSecret: null });
  });

  it('caps active keys per customer at 100 unless TOLLGATE_MAX_KEYS_PER_CUSTOMER says otherwise', () => {
    const catalog = { tiers: [], meters: [], upgradeUrl: '/' };
    expect(configFromEnvironment({}, { catalog }).maxKeysPerCustomer).toBe(100);
    expect(configFromEnvironment({ TOLLGATE_MAX_KEYS_PER_CUSTOMER: '25' }, { catalog }).maxKeysPerCustomer).toBe(25);
  });

  it('never echoes a secret value in the error', () => {
    try {
      fromEnvironment({ ADMIN_TOKEN: 'tiny', STRIPE_SECRET_KEY: 'pk_live_supersecret' });
      throw new Error('not rejected');
    } catch (error) {
      expect((error as Error).message).not.toContain('supersecret');
      expect((error as Error).message).not.toContain('tiny');
      expect((error as Error).message).toContain('(value hidden)');
    }
  });

  it('builds the config with DESIGN defaults', () => {
    const config = configFromEnvironment({ TOLLGATE_TIERS: new URL('../../tiers.yaml', import.meta.url).pathname });
    expect(config.port).toBe(3000);
    expect(config.embedded).toBe(true);
    expect(config.demo).toBe(true);
    expect(config.adminTokenGenerated).toBe(true);
    expect(config.adminToken.length).toBeGreaterThanOrEqual(32);
    expect(config.syncCron).toBe('0 * * * *');
    expect(config.catalog.tiers).toHaveLength(3);
    expect(config).toMatchObject({ bodyLimitBytes: 102_400, bulkBodyLimitBytes: 2_097_152, jsonMaxDepth: 32, jsonMaxWidth: 1000 });
    expect(config).toMatchObject({ httpHeadersTimeoutMs: 20_000, httpRequestTimeoutMs: 30_000, httpKeepAliveTimeoutMs: 65_000 });
    expect(config.maxEventQuantity).toBe(1_000_000_000_000);
    expect(config.maxCounterTotal).toBe(9_007_199_254_740_991n);
  });

  it('reads the body limits and HTTP timeouts', () => {
    const config = configFromEnvironment(
      {
        TOLLGATE_BODY_LIMIT_BYTES: '65536',
        TOLLGATE_BULK_BODY_LIMIT_BYTES: '8388608',
        TOLLGATE_JSON_MAX_DEPTH: '16',
        TOLLGATE_JSON_MAX_WIDTH: '5000',
        HTTP_HEADERS_TIMEOUT_MS: '10000',
        HTTP_REQUEST_TIMEOUT_MS: '60000',
        HTTP_KEEP_ALIVE_TIMEOUT_MS: '620000',
      },
      { catalog: { tiers: [], meters: [], upgradeUrl: '/' } },
    );
    expect(config).toMatchObject({ bodyLimitBytes: 65_536, bulkBodyLimitBytes: 8_388_608, jsonMaxDepth: 16, jsonMaxWidth: 5000 });
    expect(config).toMatchObject({ httpHeadersTimeoutMs: 10_000, httpRequestTimeoutMs: 60_000, httpKeepAliveTimeoutMs: 620_000 });
  });

  it('reads the reconciliation, period-close and event-destination settings (defaults: hourly, 5 min, 1 h, 1 min, 50 min)', () => {
    const catalog = { catalog: { tiers: [], meters: [], upgradeUrl: '/' } };
    expect(configFromEnvironment({}, catalog)).toMatchObject({
      reconcileCron: '30 * * * *',
      driftThreshold: 0,
      stripeSummaryDelayMs: 300_000,
      stripeFinalizationGraceMs: 3_600_000,
      periodCloseSyncDelayMs: 60_000,
      lateEventGraceMs: 3_000_000,
      stripeEventDestinationSecret: null,
    });
    const config = configFromEnvironment(
      {
        TOLLGATE_RECONCILE_CRON: '*/10 * * * *',
        TOLLGATE_DRIFT_THRESHOLD: '5',
        STRIPE_SUMMARY_DELAY_MS: '600000',
        STRIPE_FINALIZATION_GRACE_MS: '7200000',
        TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS: '30000',
        TOLLGATE_LATE_EVENT_GRACE_MS: '1800000',
        STRIPE_EVENT_DESTINATION_SECRET: 'whsec_abc',
      },
      catalog,
    );
    expect(config).toMatchObject({
      reconcileCron: '*/10 * * * *',
      driftThreshold: 5,
      stripeSummaryDelayMs: 600_000,
      stripeFinalizationGraceMs: 7_200_000,
      periodCloseSyncDelayMs: 30_000,
      lateEventGraceMs: 1_800_000,
      stripeEventDestinationSecret: 'whsec_abc',
    });
  });

  it('reads the usage caps, the counter cap exactly up to bigint', () => {
    const config = configFromEnvironment(
      { TOLLGATE_MAX_EVENT_QUANTITY: '5000', TOLLGATE_MAX_COUNTER_TOTAL: '9223372036854775807' },
      { catalog: { tiers: [], meters: [], upgradeUrl: '/' } },
    );
    expect(config.maxEventQuantity).toBe(5000);
    expect(config.maxCounterTotal).toBe(9_223_372_036_854_775_807n);
  });

  it('reads the JetStream transport settings (default: the direct path; stream TOLLGATE_USAGE, R1, a 2 min duplicate window)', () => {
    const catalog = { catalog: { tiers: [], meters: [], upgradeUrl: '/' } };
    const defaults = configFromEnvironment({}, catalog);
    expect([defaults.ingestTransport, defaults.natsUrl, defaults.natsStream, defaults.natsReplicas, defaults.natsDuplicateWindowMs]).toEqual(['direct', null, 'TOLLGATE_USAGE', 1, 120_000]);
    const config = configFromEnvironment(
      { TOLLGATE_INGEST_TRANSPORT: 'jetstream', NATS_URL: 'nats://a:4222,nats://b:4222', TOLLGATE_NATS_STREAM: 'USAGE_EU', TOLLGATE_NATS_REPLICAS: '3', TOLLGATE_NATS_DUPLICATE_WINDOW_MS: '600000' },
      catalog,
    );
    expect([config.ingestTransport, config.natsUrl, config.natsStream, config.natsReplicas, config.natsDuplicateWindowMs]).toEqual(['jetstream', 'nats://a:4222,nats://b:4222', 'USAGE_EU', 3, 600_000]);
  });

  it('turns demo off by default on real Postgres', () => {
    const config = configFromEnvironment({
      DATABASE_URL: 'postgres://u@h/db',
      PORT: '8080',
      TOLLGATE_TIERS: new URL('../../tiers.yaml', import.meta.url).pathname,
    });
    expect(config.demo).toBe(false);
    expect(config.port).toBe(8080);
  });
});
