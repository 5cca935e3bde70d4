import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { checkedFetch, json } from '../support/http.js';
import { spawnService, waitForReady } from '../support/service-process.js';
import { SEED_TIERS } from '../support/test-app.js';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  server.close();
  return typeof address === 'object' && address ? address.port : 0;
}

function tiersFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-tiers-'));
  const path = join(dir, 'tiers.yaml');
  writeFileSync(path, text);
  return path;
}

describe('the service process', () => {
  it.each([
    ['a malformed rate limit', SEED_TIERS.replace('rate_limit: 100/min', 'rate_limit: lots'), 'tiers.pro.rate_limit'],
    ['an unknown field', SEED_TIERS.replace('sla: 99.9%', 'sla: 99.9%\n    colour: blue'), 'tiers.enterprise.colour'],
    ['a missing endpoints list', SEED_TIERS.replace('    endpoints: [/v1/basic/*]\n', ''), 'tiers.free.endpoints'],
  ])('refuses to start with %s in tiers.yaml, naming the field', async (_name, text, field) => {
    const service = spawnService({ TOLLGATE_TIERS: tiersFile(text), PORT: String(await freePort()) });
    const { code } = await service.exited;
    expect(code).toBe(1);
    expect(service.output()).toContain('Tollgate cannot start: invalid configuration');
    expect(service.output()).toContain(field);
  });

  it('refuses to start when tiers.yaml is missing', async () => {
    const service = spawnService({ TOLLGATE_TIERS: '/nonexistent/tiers.yaml' });
    expect((await service.exited).code).toBe(1);
    expect(service.output()).toContain('TOLLGATE_TIERS: file not found');
  });

  it('refuses to start with a bad variable, naming it', async () => {
    const service = spawnService({ PORT: 'http', REDIS_URL: 'localhost' });
    expect((await service.exited).code).toBe(1);
    expect(service.output()).toMatch(/environment: PORT: must be a whole number/);
    expect(service.output()).toMatch(/environment: REDIS_URL: must be a redis:\/\/ URL/);
  });

  describe('a good start', () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase();
    });
    afterAll(() => database.dispose());

    it('serves /health/ready and /v1/tiers, then exits cleanly on SIGTERM', async () => {
      const port = await freePort();
      // The process gets its own embedded data dir, or this test's schema on real Postgres.
      const env: Record<string, string> = {
        PORT: String(port),
        TOLLGATE_TIERS: tiersFile(SEED_TIERS),
        TOLLGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'tollgate-data-')),
        ADMIN_TOKEN: 'process-test-admin-token-123456',
      };
      if (database.databaseUrl) Object.assign(env, { DATABASE_URL: database.databaseUrl, DATABASE_SCHEMA: database.schema });
      if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;
      const service = spawnService(env);
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitForReady(url, 30_000);
        const tiers = await json(await checkedFetch(`${url}/v1/tiers`));
        expect(tiers.tiers.map((tier: { name: string }) => tier.name)).toEqual(['free', 'pro', 'enterprise']);
        expect(service.output()).toContain(`${'http://localhost:'}${port}/docs`);
        expect(service.output()).not.toContain('process-test-admin-token-123456');
      } finally {
        service.child.kill('SIGTERM');
      }
      const exit = await service.exited;
      // Nest re-raises the signal after closing, so the process ends by SIGTERM, not by a crash.
      expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
      expect(service.output()).toContain('SIGTERM received: draining in-flight requests');
      // A fresh embedded database at first start (slow on a busy machine), then up to HTTP_SHUTDOWN_GRACE_MS (5 s)
      // of serving on this process' kept-alive connection after SIGTERM.
    }, 60_000);
  });
});
