import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from '../metering-durability/durability-support.js';
import { call, checkedFetch } from '../support/http.js';
import { createPrivatePostgres, type PrivatePostgres } from '../support/private-postgres.js';
import { spawnService, waitForReady, type ServiceProcess } from '../support/service-process.js';
import { SEED_TIERS } from '../support/test-app.js';

const ADMIN_TOKEN = 'outage-start-admin-token-123456';

/**
 * The service starts while its Postgres (a private cluster, stopped) is down: it listens, says it is alive but
 * not ready, answers what needs the database 503 with Retry-After (never 500), serves what does not, and
 * becomes ready on its own — migrations applied — once the database is started.
 */
describe('starting while the database is down', () => {
  let postgres: PrivatePostgres | null = null;
  let service: ServiceProcess | null = null;
  let dataDir: string;

  afterAll(async () => {
    if (service && service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    await postgres?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts not-ready, answers 503 + Retry-After meanwhile, and becomes ready when the database returns', async () => {
    postgres = await createPrivatePostgres(await freePort());
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-data-'));
    const tiers = join(dataDir, 'tiers.yaml');
    writeFileSync(tiers, SEED_TIERS);
    const env: Record<string, string> = { PORT: String(port), TOLLGATE_TIERS: tiers, TOLLGATE_DATA_DIR: dataDir, ADMIN_TOKEN, DATABASE_URL: postgres.url };
    if (process.env.REDIS_URL) Object.assign(env, { REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: `test:${randomBytes(4).toString('hex')}` });
    const started = spawnService(env);
    service = started;

    // Listening (alive), though the database is down; before, the process exited here.
    let exited: { code: number | null } | null = null;
    void started.exited.then((exit) => (exited = exit));
    for (;;) {
      if (exited) throw new Error(`the service exited (${JSON.stringify(exited)}):\n${started.output().slice(-2000)}`);
      const live = await checkedFetch(`${url}/health/live`).catch(() => null);
      if (live?.status === 200) break;
      await sleep(100);
    }

    const ready = await call('GET', `${url}/health/ready`);
    expect({ status: ready.status, error: ready.body.error }).toEqual({ status: 503, error: 'database_unavailable' });
    const needDatabase = await Promise.all([
      call('GET', `${url}/v1/customers`, { bearer: ADMIN_TOKEN }),
      call('POST', `${url}/v1/customers`, { bearer: ADMIN_TOKEN, body: { name: 'early', tier: 'free' } }),
      call('GET', `${url}/v1/me`, { apiKey: `tg_test_${'a'.repeat(43)}` }),
      call('POST', `${url}/v1/events`, { bearer: ADMIN_TOKEN, body: { events: [{ customerId: 'cus_x', meter: 'api_calls', quantity: 1, idempotencyKey: 'k' }] } }),
    ]);
    for (const response of needDatabase) {
      expect({ status: response.status, error: response.body.error, retryAfter: response.headers.get('retry-after') }).toEqual({
        status: 503,
        error: 'database_unavailable',
        retryAfter: '5',
      });
    }
    // The tier catalog comes from tiers.yaml: served without the database.
    expect((await call('GET', `${url}/v1/tiers`)).status).toBe(200);
    expect((await call('GET', `${url}/health/ready`)).status).toBe(503);

    await postgres.start();
    await waitForReady(url, 30_000);
    expect(started.output()).toContain('database reachable: ready');

    // Migrated and serving: the whole path works.
    const customer = await call('POST', `${url}/v1/customers`, { bearer: ADMIN_TOKEN, body: { name: 'after the outage', tier: 'free' } });
    expect(customer.status).toBe(201);
    const key = await call('POST', `${url}/v1/customers/${customer.body.id}/keys`, { bearer: ADMIN_TOKEN, body: {} });
    expect(key.status).toBe(201);
    const me = await call('GET', `${url}/v1/me`, { apiKey: key.body.secret });
    expect({ status: me.status, id: me.body.id ?? me.body.customer?.id }).toEqual({ status: 200, id: customer.body.id });

    started.child.kill('SIGTERM');
    const exit = await started.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
  }, 90_000);
});
