import { ConfigErrors } from './config.errors.js';
import { ENVIRONMENT, fromEnvironment } from './environment.js';
import { TollgateConfig } from './tollgate-config.js';
import { resolveOptions, type TollgateOptions } from './tollgate-options.js';

const catalog = { tiers: [], meters: [], upgradeUrl: '/' };

function messages(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigErrors) return error.errors.map((problem) => problem.message);
    throw error;
  }
  return [];
}

describe('forRoot options', () => {
  it('default to TollgateConfig, the one place defaults are written', () => {
    const config = resolveOptions({ tiers: catalog });
    const defaults = new TollgateConfig();
    for (const key of ['port', 'redisPrefix', 'syncCron', 'maxKeysPerCustomer', 'httpKeepAliveTimeoutMs', 'rateLimitStoreTimeoutMs', 'spoolMaxBytes', 'meRateLimit'] as const) {
      expect(config[key]).toEqual(defaults[key]);
    }
    expect(config.stripe).toEqual({ secretKey: null, webhookSecret: null, apiUrl: null });
    // The environment adds nothing of its own: unset variables are simply absent.
    expect(fromEnvironment({})).toEqual({});
  });

  it('set every kind of setting: Stripe, SMTP, encryption key, timeouts, limits, rates, counters', () => {
    const config = resolveOptions({
      tiers: catalog,
      stripe: { secretKey: 'sk_test_abc', webhookSecret: 'whsec_abc', apiUrl: 'http://127.0.0.1:12111' },
      smtpUrl: 'smtp://user:pass@127.0.0.1:2525',
      emailFrom: 'Billing <billing@example.com>',
      encryptionKey: 'k'.repeat(32),
      operator: { email: 'ops@example.com' },
      httpRequestTimeoutMs: 60_000,
      maxKeysPerCustomer: 7,
      meRateLimit: '5/min',
      portalRateLimit: { limit: 9, windowSeconds: 1 },
      maxCounterTotal: '9223372036854775807',
      upgradeUrl: 'https://example.com/pricing',
    });
    expect(config.stripe).toEqual({ secretKey: 'sk_test_abc', webhookSecret: 'whsec_abc', apiUrl: 'http://127.0.0.1:12111' });
    expect(config).toMatchObject({ smtpUrl: 'smtp://user:pass@127.0.0.1:2525', encryptionKey: 'k'.repeat(32), httpRequestTimeoutMs: 60_000, maxKeysPerCustomer: 7 });
    expect(config.operator).toEqual({ email: 'ops@example.com', webhookUrl: null, webhookSecret: null });
    expect(config.meRateLimit).toEqual({ limit: 5, windowSeconds: 60 });
    expect(config.portalRateLimit).toEqual({ limit: 9, windowSeconds: 1 });
    expect(config.maxCounterTotal).toBe(9_223_372_036_854_775_807n);
    expect(config.catalog.upgradeUrl).toBe('https://example.com/pricing');
  });

  // The same bad value, as a variable and as an option: the same problem, named the way it was given.
  it.each<[string, string, TollgateOptions, string]>([
    ['PORT', '70000', { port: 70000 }, 'port'],
    ['REDIS_URL', 'localhost:6379', { redisUrl: 'localhost:6379' }, 'redisUrl'],
    ['STRIPE_SECRET_KEY', 'pk_live_supersecret', { stripe: { secretKey: 'pk_live_supersecret' } }, 'stripe.secretKey'],
    ['SMTP_URL', 'mail.example.com', { smtpUrl: 'mail.example.com' }, 'smtpUrl'],
    ['TOLLGATE_ENCRYPTION_KEY', 'short', { encryptionKey: 'short' }, 'encryptionKey'],
    ['HTTP_REQUEST_TIMEOUT_MS', '10', { httpRequestTimeoutMs: 10 }, 'httpRequestTimeoutMs'],
    ['TOLLGATE_MAX_KEYS_PER_CUSTOMER', '0', { maxKeysPerCustomer: 0 }, 'maxKeysPerCustomer'],
    ['RATE_LIMIT_ME', 'fast', { meRateLimit: 'fast' }, 'meRateLimit'],
    ['TOLLGATE_MAX_COUNTER_TOTAL', '9223372036854775808', { maxCounterTotal: '9223372036854775808' }, 'maxCounterTotal'],
    ['OPERATOR_WEBHOOK_URL', 'https://ops.example/hooks', { operator: { webhookUrl: 'https://ops.example/hooks' } }, 'operator.webhookSecret'],
  ])('reject %s=%j as clearly as the variable', (variable, text, options, field) => {
    const envName = Object.entries(ENVIRONMENT).find(([, [path]]) => path === field)?.[0];
    const [fromEnv] = messages(() => fromEnvironment({ [variable]: text }));
    const [fromOptions, ...more] = messages(() => resolveOptions({ tiers: catalog, ...options }, 'MeteringModule options'));
    expect(more).toEqual([]);
    const problem = (message: string, name: string) => message.match(new RegExp(`^[^:]+: ${name.replace('.', '\\.')}: (must [^,]+)`))?.[1];
    expect(problem(fromOptions, field)).toBeDefined();
    expect(problem(fromEnv, envName!)).toBe(problem(fromOptions, field));
  });

  it('never show a secret or URL in the error', () => {
    const [message] = messages(() => resolveOptions({ tiers: catalog, stripe: { secretKey: 'pk_live_supersecret' } }));
    expect(message).toBe('Tollgate options: stripe.secretKey: must look like sk_test_… or sk_live_…, got (value hidden)');
  });

  it('name every problem at once, and an unknown option', () => {
    expect(messages(() => resolveOptions({ tiers: catalog, port: -1, logLevel: 'loud' }))).toEqual([
      'Tollgate options: port: must be a port number (0-65535), got -1',
      'Tollgate options: logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]);
    expect(messages(() => resolveOptions({ tiers: catalog, redisURL: 'redis://x' } as TollgateOptions))).toEqual(['Tollgate options: redisURL: is not an option']);
  });

  describe('with the process environment set', () => {
    const saved = { ...process.env };
    beforeAll(() => {
      Object.assign(process.env, { DATABASE_URL: 'mysql://nope', REDIS_URL: 'nonsense', PORT: 'eighty', TOLLGATE_TIERS: '/nonexistent/tiers.yaml', SMTP_URL: 'smtp://127.0.0.1:1', STRIPE_SECRET_KEY: 'sk_test_from_env' });
    });
    afterAll(() => {
      for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
      Object.assign(process.env, saved);
    });

    it('ignore it: explicit options (and defaults) are all that counts', () => {
      const config = resolveOptions({ tiers: catalog, maxKeysPerCustomer: 5 });
      expect(config).toMatchObject({ databaseUrl: null, redisUrl: null, port: 3000, smtpUrl: null, maxKeysPerCustomer: 5 });
      expect(config.stripe.secretKey).toBeNull();
    });

    it('are read from it only through fromEnvironment(), which names the bad variables', () => {
      expect(messages(() => fromEnvironment(process.env)).map((message) => message.split(':').slice(0, 2).join(':'))).toEqual([
        'environment: PORT',
        'environment: DATABASE_URL',
        'environment: REDIS_URL',
      ]);
    });
  });
});
