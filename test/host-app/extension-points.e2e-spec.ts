import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Controller, type DynamicModule, type ExecutionContext, Get, type INestApplication, Inject, Injectable, UseGuards } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ApiKeyGuard,
  ApiKeysService,
  CustomersService,
  MeteringModule,
  type MeteringModuleOptions,
  type RateLimitDecision,
  type RateLimitRequest,
  RateLimitGuard,
  type RateLimitStorage,
  Tier,
  TierGuard,
  TierRequiredException,
  TollgateConfig,
  TollgateException,
  TollgateExceptionFilter,
} from 'tollgate';
import { HostAppModule } from '../../examples/host-app/app.module.js';
import { PaidApiController } from '../../examples/host-app/per-controller.module.js';
import { SlackChannel } from '../../examples/host-app/slack.channel.js';
import { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { DeliveryWorker } from '../../src/notifications/delivery.worker.js';
import { flakyPglite, type Outage, startPostgresProxy } from '../metering-durability/outage.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { createHostApplication, HOST_ADAPTERS, type HostAdapter } from '../support/host-adapter.js';

/**
 * Tollgate's extension points as a host app uses them: its exception filter, a notification channel of its own
 * (Slack, from examples/host-app) and a rate-limit store of its own.
 */
const TIERS_PATH = fileURLToPath(new URL('../../tiers.yaml', import.meta.url));
const FREE = '/v1/basic/weather';

let database: TestDatabase;
/** The adapter of the `describe.each` block running now (set in its beforeAll). */
let adapter: HostAdapter = 'express';
const dataDirs: string[] = [];
const running: INestApplication[] = [];

function meteringOptions(extra: Partial<MeteringModuleOptions> = {}): MeteringModuleOptions {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-extensions-'));
  dataDirs.push(dataDir);
  return {
    tiers: TIERS_PATH,
    databaseUrl: database.databaseUrl,
    databaseSchema: database.schema,
    dataDir,
    redisUrl: process.env.REDIS_URL ?? null,
    redisPrefix: `test:ext:${randomBytes(4).toString('hex')}`,
    ...extra,
  };
}

async function boot(module: DynamicModule, options: { filter?: boolean; embedded?: EmbeddedPostgres | null } = {}): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({ imports: [module] })
    .overrideProvider(EmbeddedPostgres)
    .useValue(options.embedded ?? database.embedded)
    .compile();
  const app = createHostApplication(moduleRef, adapter, { logger: ['error', 'warn'] });
  // What a host app adds to its main.ts to answer Tollgate's errors as the service does.
  if (options.filter) app.useGlobalFilters(new TollgateExceptionFilter());
  running.push(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  return { app, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

async function closeApp(app: INestApplication): Promise<void> {
  running.splice(running.indexOf(app), 1);
  await app.close();
}

async function provision(app: INestApplication, tier: string, overrides?: Record<string, unknown>): Promise<{ customerId: string; secret: string }> {
  const customer = await app.get(CustomersService).create({ name: `${tier} extension customer`, tier, overrides });
  const { secret } = await app.get(ApiKeysService).create(customer.id, { name: 'extension test' });
  return { customerId: customer.id, secret };
}

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  for (const app of running.splice(0)) await app.close();
  await database.dispose();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe.each(HOST_ADAPTERS)('on %s', (adapterName) => {
  beforeAll(() => {
    adapter = adapterName;
  });

  describe('TollgateExceptionFilter in a host app', () => {
    /** Each run gets a database it can cut: a TCP proxy in front of Postgres, or a PGlite whose queries fail. */
    async function bootWithOutage(filter: boolean): Promise<{ app: INestApplication; url: string; outage: Outage }> {
      if (database.databaseUrl) {
        const proxy = await startPostgresProxy(database.databaseUrl);
        const { app, url } = await boot(HostAppModule.forRoot(meteringOptions({ databaseUrl: proxy.databaseUrl })), { filter });
        return { app, url, outage: proxy };
      }
      const flaky = flakyPglite(database.embedded!.pglite);
      const { app, url } = await boot(HostAppModule.forRoot(meteringOptions()), { filter, embedded: { pglite: flaky.pglite, closeOnShutdown: false } });
      return { app, url, outage: flaky };
    }

    it.each([
      ['with the filter', true, { status: 503, body: { error: 'service_unavailable', message: 'A backing service is unavailable; retry shortly.' }, retryAfter: '2' }],
      // Nest's own filter knows nothing of database faults: the client is told it is the server's bug and never to come back later.
      ['without it', false, { status: 500, body: { statusCode: 500, message: 'Internal server error' }, retryAfter: null }],
    ])('answers a key lookup during a database outage %s', async (_name, filter, expected) => {
      const { app, url, outage } = await bootWithOutage(filter);
      try {
        // A key never used yet: nothing cached, so checking it needs the database.
        const { secret } = await provision(app, 'free');
        outage.stop();
        const response = await call('GET', `${url}${FREE}`, { apiKey: secret });
        expect({ status: response.status, body: response.body, retryAfter: response.headers.get('retry-after') }).toEqual(expected);
      } finally {
        outage.start();
        await closeApp(app);
        await outage.close();
      }
    });

    it.each([
      ['with the filter', true],
      ['without it', false],
    ])("answers a closed-mode rate-limit store fault with 503 and Retry-After %s (Tollgate's own exception)", async (_name, filter) => {
      // A store that is never reachable, as a Redis that went away: `closed` mode refuses rather than admit unlimited.
      const unreachable: RateLimitStorage = { remote: true, available: () => false, consume: () => Promise.reject(new Error('unreachable')) };
      const { app, url } = await boot(HostAppModule.forRoot(meteringOptions({ rateLimitStorage: unreachable, rateLimitFailureMode: 'closed' })), { filter });
      try {
        const { secret } = await provision(app, 'free');
        const response = await call('GET', `${url}${FREE}`, { apiKey: secret });
        expect({ status: response.status, body: response.body, retryAfter: response.headers.get('retry-after') }).toEqual({
          status: 503,
          body: { error: 'rate_limiter_unavailable', message: 'Rate limiting is temporarily unavailable; retry shortly.' },
          retryAfter: '1',
        });
      } finally {
        await closeApp(app);
      }
    });

    it("answers Tollgate's refusals as the service does and leaves the host's own errors to Nest's format", async () => {
      const { app, url } = await boot(HostAppModule.forRoot(meteringOptions()), { filter: true });
      try {
        const missing = await call('GET', `${url}${FREE}`);
        expect(missing.status).toBe(401);
        expect(missing.body).toEqual({ error: 'invalid_api_key', message: expect.any(String) });
        expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="tollgate", error="invalid_token"');
        const free = await provision(app, 'free');
        const pro = await call('GET', `${url}/v1/forecast`, { apiKey: free.secret });
        expect(pro.status).toBe(403);
        expect(pro.body).toMatchObject({ error: 'tier_required', requiredTier: 'pro', currentTier: 'free' });
        // A route the host does not have: Nest's 404 body, untouched.
        const unknown = await call('GET', `${url}/status/nope`);
        expect(unknown.status).toBe(404);
        expect(unknown.body).toEqual({ statusCode: 404, error: 'Not Found', message: 'Cannot GET /status/nope' });
      } finally {
        await closeApp(app);
      }
    });
  });

  /** A loopback HTTP server standing in for Slack's incoming webhook: records each POST, fails the first `failFirst`. */
  async function startSlackStandIn(failFirst: number): Promise<{ url: string; received: Array<{ headers: IncomingMessage['headers']; body: unknown }>; close(): Promise<void> }> {
    const received: Array<{ headers: IncomingMessage['headers']; body: unknown }> = [];
    const server: Server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        received.push({ headers: request.headers, body: JSON.parse(body) });
        if (received.length <= failFirst) {
          response.writeHead(500).end('internal_error');
          return;
        }
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return { url: `http://127.0.0.1:${port}/services/T000/B000/XXXX`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  interface OutboxRow {
    channel: string;
    status: string;
    attempts: number;
    last_error: string | null;
    kind: string;
  }

  describe('a notification channel of the host (Slack, examples/host-app)', () => {
    it('delivers the usage-threshold notification to Slack, retried like the built-in channels, with the webhook rules applied', async () => {
      const slack = await startSlackStandIn(1);
      const { app, url } = await boot(
        HostAppModule.forRoot(
          meteringOptions({
            notificationChannels: [
              new SlackChannel({ webhookUrl: slack.url }),
              // The same channel with a URL a customer typed in: held to public addresses, so loopback is refused.
              new SlackChannel({ webhookUrl: slack.url, setBy: 'customer', kind: 'slack-customer' }),
            ],
          }),
        ),
      );
      try {
        const customer = await provision(app, 'pro', { includedCalls: 10 });
        for (let i = 0; i < 8; i++) expect((await call('GET', `${url}${FREE}`, { apiKey: customer.secret })).status).toBe(200);
        const outbox = () =>
          database.query<OutboxRow>(
            `SELECT o.channel, o.status, o.attempts, o.last_error, n.kind FROM outbox o JOIN notifications n ON n.id = o.notification_id
              WHERE n.customer_id = $1 ORDER BY o.channel`,
            [customer.customerId],
          );
        const worker = app.get(DeliveryWorker);
        // The 80% notification is recorded by a listener after the response, and the worker also polls on its own:
        // pass over the outbox until both deliveries have had an attempt.
        const tickUntil = async (done: (rows: OutboxRow[]) => boolean) => {
          const deadline = Date.now() + 5_000;
          while (!done(await outbox()) && Date.now() < deadline) {
            await worker.tick();
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        };
        await tickUntil((rows) => rows.length === 2 && rows.every((row) => row.attempts >= 1 && row.status === 'pending'));

        // First attempt: Slack answers 500, so the delivery waits for a retry; the customer-set URL is refused outright.
        expect(await outbox()).toEqual([
          { channel: 'slack', status: 'pending', attempts: 1, last_error: 'HTTP 500', kind: 'usage.threshold' },
          { channel: 'slack-customer', status: 'pending', attempts: 1, last_error: 'destination refused: not a public address', kind: 'usage.threshold' },
        ]);
        expect(slack.received).toHaveLength(1);

        // The retry comes due (backoff shortened here by moving the clock of the row, not the product's timing).
        await database.query(`UPDATE outbox SET next_attempt_at = now() WHERE channel = 'slack'`);
        await tickUntil((rows) => rows[0].status === 'delivered');
        expect((await outbox())[0]).toEqual({ channel: 'slack', status: 'delivered', attempts: 2, last_error: null, kind: 'usage.threshold' });
        expect(slack.received).toHaveLength(2);
        const [first, second] = slack.received;
        expect(second.body).toEqual(first.body);
        expect(second.headers['content-type']).toBe('application/json');
        expect(second.body).toEqual({ text: expect.stringContaining(customer.customerId) });
        expect((second.body as { text: string }).text).toMatch(/80%/);
        // The column takes any well-formed kind (no SQL list of channels) and still refuses a malformed one.
        await expect(database.query(`UPDATE outbox SET channel = 'Not A Kind' WHERE channel = 'slack'`)).rejects.toThrow(/outbox_channel_kind/);
      } finally {
        await closeApp(app);
        await slack.close();
      }
    });
  });

  /** A host's own store: refuses everything past `allow` calls, and remembers what it was asked. */
  class CountingStorage implements RateLimitStorage {
    readonly remote = false;
    readonly requests: RateLimitRequest[] = [];

    constructor(private readonly allow: number) {}

    async consume(request: RateLimitRequest): Promise<RateLimitDecision> {
      this.requests.push(request);
      const allowed = this.requests.length <= this.allow;
      return {
        allowed,
        retryAfterMs: allowed ? 0 : 7_000,
        policies: request.policies.map((policy) => ({ ...policy, remaining: allowed ? 1 : 0, resetMs: allowed ? 0 : 7_000, refused: !allowed })),
      };
    }
  }

  /** The same, given as a class: Nest builds it with Tollgate's providers injected. */
  @Injectable()
  class ConfiguredStorage extends CountingStorage {
    static built: ConfiguredStorage[] = [];

    constructor(@Inject(TollgateConfig) readonly config: TollgateConfig) {
      super(1);
      ConfiguredStorage.built.push(this);
    }
  }

  describe('a rate-limit store of the host (rateLimitStorage)', () => {
    it('decides every consumer request instead of Redis or memory, and its refusal is answered with the usual 429', async () => {
      const storage = new CountingStorage(2);
      const { app, url } = await boot(HostAppModule.forRoot(meteringOptions({ rateLimitStorage: storage })));
      try {
        const customer = await provision(app, 'free');
        expect((await call('GET', `${url}${FREE}`, { apiKey: customer.secret })).status).toBe(200);
        expect((await call('GET', `${url}${FREE}`, { apiKey: customer.secret })).status).toBe(200);
        const refused = await call('GET', `${url}${FREE}`, { apiKey: customer.secret });
        expect(refused.status).toBe(429);
        expect(refused.body).toMatchObject({ error: 'rate_limit_exceeded', retryAfter: 7 });
        expect(refused.headers.get('retry-after')).toBe('7');
        // Asked with the customer's bucket and its tier's policies (tiers.yaml: free is 10 per minute).
        expect(storage.requests).toHaveLength(3);
        expect(storage.requests[0]).toMatchObject({ bucket: customer.customerId, cost: 1, policies: [{ id: 'w60', limit: 10, windowMs: 60_000 }] });
      } finally {
        await closeApp(app);
      }
    });

    it('takes a class too, built with its dependencies', async () => {
      ConfiguredStorage.built = [];
      const { app, url } = await boot({
        module: class ClassStorageApp {},
        imports: [MeteringModule.forRootAsync({ useFactory: () => meteringOptions({ rateLimitStorage: ConfiguredStorage }), inject: [], globalGuards: false })],
        controllers: [PaidApiController],
      });
      try {
        expect(ConfiguredStorage.built).toHaveLength(1);
        expect(ConfiguredStorage.built[0].config).toBeInstanceOf(TollgateConfig);
        const customer = await provision(app, 'free');
        expect((await call('GET', `${url}${FREE}`, { apiKey: customer.secret })).status).toBe(200);
        expect((await call('GET', `${url}${FREE}`, { apiKey: customer.secret })).status).toBe(429);
        expect(ConfiguredStorage.built[0].requests).toHaveLength(2);
      } finally {
        await closeApp(app);
      }
    });
  });

  /** A host's own answer to a too-low tier, through the guard's throw hook (as @nestjs/throttler's `throwThrottlingException`). */
  @Injectable()
  class PaywallTierGuard extends TierGuard {
    protected override throwTierRequiredException(_context: ExecutionContext, exception: TierRequiredException): never {
      throw new TollgateException(402, { error: 'payment_required', message: `Subscribe to ${exception.body.requiredTier} at our shop.`, requiredTier: exception.body.requiredTier });
    }
  }

  @UseGuards(ApiKeyGuard, PaywallTierGuard)
  @Controller('v1')
  class PaywalledController {
    @Tier('pro')
    @Get('forecast')
    forecast() {
      return { days: [21, 23, 19] };
    }
  }

  /** A host's own exemption from the rate limit, through @nestjs/throttler's `shouldSkip` hook. */
  @Injectable()
  class InternalTrafficRateLimitGuard extends RateLimitGuard {
    protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
      return context.switchToHttp().getRequest<IncomingMessage>().headers['x-internal'] === 'yes';
    }
  }

  @UseGuards(ApiKeyGuard, TierGuard, InternalTrafficRateLimitGuard)
  @Controller('v1')
  class ExemptableController {
    @Get('basic/exemptable')
    exemptable() {
      return { ok: true };
    }
  }

  describe("the rate-limit guard's shouldSkip hook", () => {
    it('is asked when a host overrides it: skipped requests are neither charged nor given rate-limit headers', async () => {
      const { app, url } = await boot({
        module: class ExemptApp {},
        imports: [MeteringModule.forRoot({ ...meteringOptions(), globalGuards: false })],
        controllers: [ExemptableController],
      });
      try {
        const customer = await provision(app, 'free');
        for (let i = 0; i < 15; i++) {
          const skipped = await call('GET', `${url}/v1/basic/exemptable`, { apiKey: customer.secret, headers: { 'x-internal': 'yes' } });
          expect(skipped.status).toBe(200);
          expect(skipped.headers.get('x-ratelimit-remaining')).toBeNull();
        }
        // Nothing was charged by the 15 skipped requests (more than the free tier's 10 per minute).
        const charged = await call('GET', `${url}/v1/basic/exemptable`, { apiKey: customer.secret });
        expect(charged.status).toBe(200);
        expect(Number(charged.headers.get('x-ratelimit-remaining'))).toBe(Number(charged.headers.get('x-ratelimit-limit')) - 1);
      } finally {
        await closeApp(app);
      }
    });
  });

  describe("the guards' throw hooks", () => {
    it('let a host subclass a guard and answer a refusal its own way, the filter keeping its status and body', async () => {
      const { app, url } = await boot(
        { module: class PaywallApp {}, imports: [MeteringModule.forRoot({ ...meteringOptions(), globalGuards: false })], controllers: [PaywalledController] },
        { filter: true },
      );
      try {
        const free = await provision(app, 'free');
        const refused = await call('GET', `${url}/v1/forecast`, { apiKey: free.secret });
        expect({ status: refused.status, body: refused.body }).toEqual({
          status: 402,
          body: { error: 'payment_required', message: 'Subscribe to pro at our shop.', requiredTier: 'pro' },
        });
        const pro = await provision(app, 'pro');
        expect((await call('GET', `${url}/v1/forecast`, { apiKey: pro.secret })).status).toBe(200);
      } finally {
        await closeApp(app);
      }
    });
  });
});
