import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { freePort, sleep } from '../metering-durability/durability-support.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { RawConnection } from '../support/raw-http.js';
import { spawnService, waitForReady, type ServiceProcess } from '../support/service-process.js';
import { SEED_TIERS } from '../support/test-app.js';

const CONNECTIONS = 8;
/** The product default: how long a SIGTERM'd process keeps answering on the connections it has (at most). */
const { httpShutdownGraceMs: GRACE_MS } = new TollgateConfig();

/**
 * SIGTERM with keep-alive connections open (a load balancer's pool): every request sent on them during the grace
 * period gets a complete answer with `Connection: close` — never a reset — and the process then exits on its own.
 */
describe('SIGTERM with kept-alive connections', () => {
  let database: TestDatabase;
  let service: ServiceProcess | null = null;
  let dataDir: string;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGKILL');
      await service.exited;
    }
    await database?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers the next request on each of them with Connection: close, then closes them and exits', async () => {
    const port = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), 'tollgate-data-'));
    const tiers = join(dataDir, 'tiers.yaml');
    writeFileSync(tiers, SEED_TIERS);
    const env: Record<string, string> = { PORT: String(port), TOLLGATE_TIERS: tiers, TOLLGATE_DATA_DIR: dataDir, ADMIN_TOKEN: 'sigterm-test-admin-token-123456' };
    if (database.databaseUrl) Object.assign(env, { DATABASE_URL: database.databaseUrl, DATABASE_SCHEMA: database.schema });
    if (process.env.REDIS_URL) env.REDIS_URL = process.env.REDIS_URL;
    service = spawnService(env);
    // A fresh embedded database is created at first start: slow on a busy machine.
    await waitForReady(`http://127.0.0.1:${port}`, 90_000);

    const connections = await Promise.all(Array.from({ length: CONNECTIONS }, () => RawConnection.open(port)));
    for (const connection of connections) {
      const first = await connection.request('/v1/tiers');
      expect({ status: first.status, connection: first.headers.connection }).toEqual({ status: 200, connection: 'keep-alive' });
    }

    service.child.kill('SIGTERM');
    // Idle for a while after the signal, as pooled connections are between requests (the old drain closed idle
    // connections every 50 ms, so the next request on them met a closed or resetting socket).
    await sleep(300);
    const answers = await Promise.allSettled(connections.map((connection) => connection.request('/v1/tiers')));
    const outcomes = answers.map((answer) =>
      answer.status === 'fulfilled'
        ? { status: answer.value.status, connection: answer.value.headers.connection, complete: JSON.parse(answer.value.body).tiers.length === 3 }
        : { error: (answer.reason as Error).message },
    );
    expect(outcomes).toEqual(Array.from({ length: CONNECTIONS }, () => ({ status: 200, connection: 'close', complete: true })));
    // Closed by the server after the answer, cleanly (a FIN, not a reset).
    await Promise.all(connections.map((connection) => connection.closed));
    expect(connections.map((connection) => connection.error?.message ?? null)).toEqual(connections.map(() => null));

    // A new connection meanwhile (a balancer still catching up) is answered too, and readiness says go away.
    const late = await RawConnection.open(port);
    const ready = await late.request('/health/ready');
    expect({ status: ready.status, connection: ready.headers.connection }).toEqual({ status: 503, connection: 'close' });

    const exit = await service.exited;
    expect(exit.code === 0 || exit.signal === 'SIGTERM').toBe(true);
  }, 120_000 + GRACE_MS);
});
