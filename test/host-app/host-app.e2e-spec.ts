import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DynamicModule, type INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ApiKeysService, CustomersService, MeteringModule, parseTierCatalog, UsageIngestor, UsageService, type MeteringModuleOptions } from 'tollgate';
import { HostAppModule } from '../../examples/host-app/app.module.js';
import { PaidApiController, PerControllerAppModule, SiteController } from '../../examples/host-app/per-controller.module.js';
import { UsageAlertsListener } from '../../examples/host-app/usage-alerts.listener.js';
import { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { createHostApplication, HOST_ADAPTERS, type HostAdapter } from '../support/host-adapter.js';

const TIERS_PATH = fileURLToPath(new URL('../../tiers.yaml', import.meta.url));
const UPGRADE_URL = 'https://host.example/pricing';
const FREE = '/v1/basic/weather';
const PRO = '/v1/forecast';
/** In no glob of tiers.yaml: only the route's @Tier('pro') protects it. */
const PRO_BY_DECORATOR = '/v1/forecast/hourly';
const ENTERPRISE = '/v1/admin/report';

interface Key {
  customerId: string;
  secret: string;
}

interface HostApp {
  app: INestApplication;
  url: string;
  keys: Record<'free' | 'pro' | 'enterprise', Key>;
}

/** A host module assembled in the test: forRootAsync with an extra, and the per-controller example's controllers. */
@Module({})
class AsyncPerControllerApp {}

let database: TestDatabase;
/** The adapter of the `describe.each` block running now (set in its beforeAll). */
let adapter: HostAdapter = 'express';
const dataDirs: string[] = [];
const running: INestApplication[] = [];

/** What a host app would pass: this test's database, Redis when configured, its own Redis namespace. */
function meteringOptions(tiers: MeteringModuleOptions['tiers']): MeteringModuleOptions {
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-host-app-'));
  dataDirs.push(dataDir);
  return {
    tiers,
    databaseUrl: database.databaseUrl,
    databaseSchema: database.schema,
    dataDir,
    redisUrl: process.env.REDIS_URL ?? null,
    redisPrefix: `test:host:${randomBytes(4).toString('hex')}`,
    upgradeUrl: UPGRADE_URL,
  };
}

/** Boots a host app module in-process, as a user's app boots, on a random loopback port. */
async function boot(module: DynamicModule): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({ imports: [module] })
    .overrideProvider(EmbeddedPostgres)
    .useValue(database.embedded)
    .compile();
  const app = createHostApplication(moduleRef, adapter, { logger: ['error', 'warn'] });
  running.push(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address();
  return { app, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
}

/** The library seeds nothing: the host provisions its customers and keys through the exported services. */
async function provision(app: INestApplication, tier: string): Promise<Key> {
  const overrides = tier === 'enterprise' ? { includedCalls: 1_000_000, rateLimit: ['1000/min'] } : undefined;
  const customer = await app.get(CustomersService).create({ name: `${tier} host customer`, tier, overrides });
  const { secret } = await app.get(ApiKeysService).create(customer.id, { name: 'host-app test' });
  return { customerId: customer.id, secret };
}

async function bootWithKeys(module: DynamicModule): Promise<HostApp> {
  const { app, url } = await boot(module);
  const keys = {
    free: await provision(app, 'free'),
    pro: await provision(app, 'pro'),
    enterprise: await provision(app, 'enterprise'),
  };
  return { app, url, keys };
}

async function closeApp(app: INestApplication): Promise<void> {
  running.splice(running.indexOf(app), 1);
  await app.close();
}

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  // Apps a failed test left open are closed here, before their database goes away.
  for (const app of running.splice(0)) await app.close();
  await database.dispose();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** Each variant, and the route it serves without a key: `@Public()` with global guards, an unguarded controller otherwise. */
const variants: Array<[string, () => DynamicModule, { path: string; body: unknown }]> = [
  [
    'global guards (HostAppModule, parsed catalog)',
    () => HostAppModule.forRoot(meteringOptions(parseTierCatalog(readFileSync(TIERS_PATH, 'utf8')))),
    { path: '/status', body: { status: 'ok' } },
  ],
  [
    'per-controller guards (PerControllerAppModule, catalog path)',
    () => PerControllerAppModule.forRoot(meteringOptions(TIERS_PATH)),
    { path: '/ping', body: { pong: true } },
  ],
];

describe.each(HOST_ADAPTERS)('on %s', (adapterName) => {
  beforeAll(() => {
    adapter = adapterName;
  });

  describe.each(variants)('example host app with %s', (_name, createModule, open) => {
    let host: HostApp;
    const get = (path: string, apiKey?: string) => call('GET', `${host.url}${path}`, { apiKey });

    beforeAll(async () => {
      host = await bootWithKeys(createModule());
    });

    afterAll(async () => {
      if (host) await closeApp(host.app);
    });

    it('lets a free key call the free endpoint and refuses pro and enterprise ones with tier_required', async () => {
      const free = await get(FREE, host.keys.free.secret);
      expect(free.status).toBe(200);
      expect(free.body).toMatchObject({ customerId: host.keys.free.customerId, tier: 'free' });

      for (const path of [PRO, PRO_BY_DECORATOR]) {
        const pro = await get(path, host.keys.free.secret);
        expect({ path, status: pro.status }).toEqual({ path, status: 403 });
        expect(pro.body).toEqual({
          error: 'tier_required',
          message: expect.any(String),
          requiredTier: 'pro',
          currentTier: 'free',
          upgradeUrl: UPGRADE_URL,
        });
      }

      const enterprise = await get(ENTERPRISE, host.keys.free.secret);
      expect(enterprise.status).toBe(403);
      expect(enterprise.body).toMatchObject({ error: 'tier_required', requiredTier: 'enterprise', currentTier: 'free', upgradeUrl: UPGRADE_URL });
    });

    it('lets a pro key call free and pro endpoints but not enterprise ones', async () => {
      for (const path of [FREE, PRO, PRO_BY_DECORATOR]) {
        const response = await get(path, host.keys.pro.secret);
        expect({ path, status: response.status }).toEqual({ path, status: 200 });
        expect(response.body).toMatchObject({ customerId: host.keys.pro.customerId, tier: 'pro' });
      }

      const enterprise = await get(ENTERPRISE, host.keys.pro.secret);
      expect(enterprise.status).toBe(403);
      expect(enterprise.body).toMatchObject({ error: 'tier_required', requiredTier: 'enterprise', currentTier: 'pro', upgradeUrl: UPGRADE_URL });
    });

    it('lets an enterprise key call everything, and tells each handler who is calling', async () => {
      for (const path of [FREE, PRO, PRO_BY_DECORATOR, ENTERPRISE]) {
        const response = await get(path, host.keys.enterprise.secret);
        expect({ path, status: response.status }).toEqual({ path, status: 200 });
        expect(response.body).toMatchObject({ customerId: host.keys.enterprise.customerId, tier: 'enterprise' });
      }
    });

    it('meters the @Metered routes: each successful call counts its cost, refusals count nothing', async () => {
      const customer = await provision(host.app, 'pro');
      const weather = await get(FREE, customer.secret);
      expect(weather.status).toBe(200);
      expect(weather.headers.get('x-quota-limit')).toBe('50000');
      expect(weather.headers.get('x-quota-remaining')).toBe('49999');
      const hourly = await get(PRO_BY_DECORATOR, customer.secret);
      expect(hourly.headers.get('x-quota-remaining')).toBe('49994');
      expect((await get(PRO, customer.secret)).headers.get('x-quota-limit')).toBeNull(); // not metered
      expect((await get(ENTERPRISE, customer.secret)).status).toBe(403);
      const report = await host.app.get(UsageService).report(customer.customerId);
      expect(report.meters.find((meter) => meter.meter === 'api_calls')).toMatchObject({ total: 6, included: 50_000 });
    });

    it("delivers Tollgate's domain events to the app's own listeners, once each", async () => {
      const customer = await host.app.get(CustomersService).create({ name: 'small quota', tier: 'pro', overrides: { includedCalls: 10 } });
      const { secret } = await host.app.get(ApiKeysService).create(customer.id, { name: 'alerts' });
      for (let i = 0; i < 12; i++) expect((await get(FREE, secret)).status).toBe(200);
      const alerts = host.app.get(UsageAlertsListener);
      const mine = () => alerts.recent.filter((alert) => alert.customerId === customer.id);
      const deadline = Date.now() + 5_000;
      while (mine().length < 4 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(mine().map((alert) => [alert.kind, alert.threshold])).toEqual([
        ['threshold', 80],
        ['threshold', 100],
        ['quota_exceeded', 100],
        ['threshold', 120],
      ]);
    });

    it('matches tier globs and records usage on the path without its query string', async () => {
      const customer = await provision(host.app, 'free');
      // A query with slashes: were it part of the path, /v1/basic/* would not cover it and the tier check would refuse.
      expect((await get(`${FREE}?city=/Porto/Ribeira`, customer.secret)).status).toBe(200);
      expect((await get(`${PRO}?units=metric`, customer.secret)).status).toBe(403);
      await host.app.get(UsageIngestor).drain();
      const events = await database.query<{ path: string }>(`SELECT properties->>'path' AS path FROM usage_events WHERE customer_id = $1`, [customer.customerId]);
      expect(events).toEqual([{ path: FREE }]);
    });

    it('counts a retried request carrying the same Idempotency-Key once, and refuses a malformed key', async () => {
      const customer = await provision(host.app, 'pro');
      const headers = { 'idempotency-key': `retry-${randomBytes(6).toString('hex')}` };
      for (let i = 0; i < 2; i++) {
        const response = await call('GET', `${host.url}${FREE}`, { apiKey: customer.secret, headers });
        expect(response.status).toBe(200);
      }
      const malformed = await call('GET', `${host.url}${FREE}`, { apiKey: customer.secret, headers: { 'idempotency-key': 'has spaces' } });
      expect({ status: malformed.status, error: malformed.body.error }).toEqual({ status: 400, error: 'invalid_idempotency_key' });
      const report = await host.app.get(UsageService).report(customer.customerId);
      expect(report.meters.find((meter) => meter.meter === 'api_calls')?.total).toBe(1);
    });

    it('answers a consumer past its rate limit with 429 and the rate-limit headers', async () => {
      const customer = await provision(host.app, 'free');
      for (let i = 0; i < 10; i++) {
        const admitted = await get(FREE, customer.secret);
        expect(admitted.status).toBe(200);
        expect(admitted.headers.get('x-ratelimit-remaining')).toBe(String(9 - i));
      }
      const refused = await get(FREE, customer.secret);
      expect(refused.status).toBe(429);
      expect(refused.body).toMatchObject({ error: 'rate_limit_exceeded', limit: 10, windowSeconds: 60, retryAfter: expect.any(Number) });
      expect(refused.headers.get('retry-after')).toBe(String(refused.body.retryAfter));
      expect(refused.headers.get('x-ratelimit-limit')).toBe('10');
      expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(refused.headers.get('ratelimit')).toMatch(/;r=0;t=\d+$/);
      // The refusal is not metered: ten calls served, ten counted.
      const report = await host.app.get(UsageService).report(customer.customerId);
      expect(report.meters.find((meter) => meter.meter === 'api_calls')?.total).toBe(10);
    });

    it('accepts the key as a bearer token too', async () => {
      const response = await call('GET', `${host.url}${PRO}`, { bearer: host.keys.pro.secret });
      expect(response.status).toBe(200);
      expect(response.body.customerId).toBe(host.keys.pro.customerId);
    });

    it('serves its open route without a key (and with one), while the guarded routes need a key', async () => {
      expect(await get(open.path)).toMatchObject({ status: 200, body: open.body });
      expect((await get(open.path, host.keys.free.secret)).status).toBe(200);
      expect((await get(FREE)).status).toBe(401);
    });

    it.each([
      ['missing', undefined],
      ['unknown (well-formed)', `tg_live_${'A'.repeat(43)}`],
      ['malformed', 'not-a-key'],
    ])('answers a %s key with 401 invalid_api_key and WWW-Authenticate', async (_kind, apiKey) => {
      for (const path of [FREE, PRO, ENTERPRISE]) {
        const response = await get(path, apiKey);
        expect({ path, status: response.status }).toEqual({ path, status: 401 });
        expect(response.body).toEqual({ error: 'invalid_api_key', message: expect.any(String) });
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer /);
      }
    });
  });

  describe('MeteringModule.forRootAsync', () => {
    it('boots with options from a factory and authenticates API keys', async () => {
      const options = meteringOptions(TIERS_PATH);
      const { app, url } = await boot(
        HostAppModule.forRootAsync({
          // A real app would read a config service or a secret store here.
          useFactory: async () => options,
          inject: [],
        }),
      );
      try {
        const pro = await provision(app, 'pro');
        const response = await call('GET', `${url}${PRO}`, { apiKey: pro.secret });
        expect(response.status).toBe(200);
        expect(response.body).toMatchObject({ customerId: pro.customerId, tier: 'pro' });

        expect((await call('GET', `${url}${PRO}`)).status).toBe(401);
        expect((await call('GET', `${url}/status`)).status).toBe(200);
        const free = await provision(app, 'free');
        expect((await call('GET', `${url}${PRO}`, { apiKey: free.secret })).body).toMatchObject({
          error: 'tier_required',
          upgradeUrl: UPGRADE_URL,
        });
      } finally {
        await closeApp(app);
      }
    });

    it('charges a request once when the guards are both global and on the controller', async () => {
      // PaidApiController carries @UseGuards(...TOLLGATE_GUARDS); with global guards too, Nest runs each guard twice.
      const { app, url } = await boot({
        module: AsyncPerControllerApp,
        imports: [MeteringModule.forRootAsync({ useFactory: () => meteringOptions(TIERS_PATH), inject: [] })],
        controllers: [PaidApiController],
      });
      try {
        const free = await provision(app, 'free');
        const statuses: number[] = [];
        for (let i = 0; i < 12; i++) statuses.push((await call('GET', `${url}${FREE}`, { apiKey: free.secret })).status);
        // The free tier's 10/min: ten pass, not five.
        expect(statuses).toEqual([...Array<number>(10).fill(200), 429, 429]);
        const usage = await app.get(UsageService).report(free.customerId);
        expect(usage.meters.find((meter) => meter.meter === 'api_calls')?.total).toBe(10);
      } finally {
        await closeApp(app);
      }
    });

    it('takes extras next to the factory: globalGuards: false leaves unguarded routes open', async () => {
      const options = meteringOptions(TIERS_PATH);
      const { app, url } = await boot({
        module: AsyncPerControllerApp,
        imports: [MeteringModule.forRootAsync({ useFactory: () => options, inject: [], globalGuards: false })],
        controllers: [PaidApiController, SiteController],
      });
      try {
        expect((await call('GET', `${url}/ping`)).status).toBe(200);
        expect((await call('GET', `${url}${FREE}`)).status).toBe(401);
        const free = await provision(app, 'free');
        expect((await call('GET', `${url}${FREE}`, { apiKey: free.secret })).status).toBe(200);
      } finally {
        await closeApp(app);
      }
    });
  });
});
