import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createTestDatabase, usingRealPostgres } from '../support/database.js';

// Runs the built package (`npm run build` first) in fresh Node processes, as a host app would load it.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = pathToFileURL(join(ROOT, 'dist/src/')).href;
const HOOKS = pathToFileURL(join(ROOT, 'test/packaging/record-imports.hooks.mjs')).href;
const REGISTER = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(HOOKS)})`;

/** Only what the service needs: none of it may load with `import 'tollgate'`. */
const SERVICE_ONLY = [/\/node_modules\/@nestjs\/swagger\//, /\/node_modules\/@nestjs\/terminus\//, /\/node_modules\/nodemailer\//, /\/dist\/src\/(admin|portal|console|demo|health|metrics)\//, /\/dist\/src\/[^/]+\/(api|[a-z-]+-api\.module|[a-z-]+\.controller|[a-z-]+\.dto)\.js$/, /\/dist\/src\/(bootstrap|app\.module|openapi\.document|service|main)\.js$/];
/** Drivers loaded only when configured. */
const DRIVERS = [/\/node_modules\/pg\//, /\/node_modules\/@electric-sql\/pglite\//, /\/node_modules\/ioredis\//, /\/node_modules\/stripe\//, /\/node_modules\/nodemailer\//];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-package-surface-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  stdout: string;
  stderr: string;
  /** Every module the process loaded: ES modules as resolved, CommonJS ones from require's cache. */
  loaded: string[];
}

/** Runs `script` (an ES module body) in a new node process; hidden packages resolve as not installed. */
function run(script: string, hide: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  const importsFile = join(dir, `imports-${Math.random().toString(36).slice(2)}.txt`);
  const body = `${script}\nconst { createRequire } = await import('node:module');\nconsole.log('CJS:' + JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--no-warnings', '--import', REGISTER, '--input-type=module', '-e', body],
      // Nothing of the test's environment reaches the child but what Node needs: the library must not need it.
      { cwd: ROOT, env: { ...env, PATH: process.env.PATH, TOLLGATE_IMPORTS_FILE: importsFile, TOLLGATE_HIDE_PACKAGES: hide.join(','), STRIPE_SUPPRESS_NOTICES: 'true' }, timeout: 25_000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        const cjsLine = stdout.split('\n').find((line) => line.startsWith('CJS:')) ?? 'CJS:[]';
        const esm = readFileSync(importsFile, 'utf8').split('\n').filter(Boolean);
        const cjs = (JSON.parse(cjsLine.slice(4)) as string[]).map((path) => pathToFileURL(path).href);
        resolve({ stdout, stderr, loaded: [...esm, ...cjs] });
      },
    );
  });
}

describe('the built package', () => {
  it("`import 'tollgate'` loads no service-only part and no driver", async () => {
    const { loaded, stdout } = await run(`const lib = await import(${JSON.stringify(`${DIST}index.js`)});\nconsole.log('exports:' + Object.keys(lib).join(','));`);
    expect(stdout).toContain('MeteringModule');
    expect(stdout).toContain('verifyWebhookSignature');
    expect(loaded.some((url) => url.endsWith('/dist/src/index.js'))).toBe(true); // the hook did record
    const offending = loaded.filter((url) => [...SERVICE_ONLY, ...DRIVERS].some((pattern) => pattern.test(url)));
    expect(offending).toEqual([]);
  });

  it("`import 'tollgate/client'` (the package's export) loads its own files and nothing else: no Nest, no package", async () => {
    // Every package hidden: the client needs none of them.
    const hide = [...Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).peerDependencies), 'cron', 'pino', 'prom-client', 'yaml'];
    const { loaded, stdout } = await run(`const client = await import('tollgate/client');\nconsole.log('exports:' + Object.keys(client).sort().join(','));`, hide);
    expect(stdout).toContain('exports:TollgateApiError,createTollgateClient\n');
    const ours = loaded.filter((url) => url.startsWith('file:'));
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.filter((url) => !url.startsWith(`${DIST}client/`))).toEqual([]);
  });

  it("loads with every optional peer missing; `tollgate/service` is what loads the service's parts", async () => {
    const hide = ['pg', '@electric-sql/pglite', 'ioredis', 'stripe', 'nodemailer'];
    const { loaded } = await run(`await import(${JSON.stringify(`${DIST}index.js`)});\nawait import(${JSON.stringify(`${DIST}service.js`)});`, hide);
    expect(loaded.some((url) => /\/node_modules\/@nestjs\/swagger\//.test(url))).toBe(true);
    expect(loaded.some((url) => /\/dist\/src\/portal\/portal\.module\.js$/.test(url))).toBe(true);
    expect(loaded.some((url) => /\/dist\/src\/console\/console\.module\.js$/.test(url))).toBe(true);
    expect(loaded.filter((url) => DRIVERS.some((pattern) => pattern.test(url)))).toEqual([]);
  });

  it.each([
    ['nodemailer', `(await import('${DIST}common/smtp-transport.js')).createSmtpTransport('smtp://127.0.0.1:1')`],
    ['ioredis', `(await import('${DIST}redis/redis.module.js')).createRedisClient('redis://127.0.0.1:1', 'test')`],
    ['stripe', `(await import('${DIST}billing/stripe.client.js')).loadStripe()`],
    ['@electric-sql/pglite', `(await import('${DIST}database/pglite.driver.js')).openPglite()`],
  ])('a missing %s is named when the feature that needs it starts', async (name, start) => {
    const { stdout } = await run(`try { await ${start}; console.log('started'); } catch (error) { console.log('ERROR:' + error.name + ': ' + error.message); }`, [name]);
    expect(stdout).toContain(`ERROR:MissingPackageError: The "${name}" package is missing. Install it to use `);
    expect(stdout).toContain(`npm install ${name}`);
  });

  it('a host app on the embedded database without PGlite installed fails at start-up naming it', async () => {
    const script = `
      await import('reflect-metadata');
      const { NestFactory } = await import('@nestjs/core');
      const { MeteringModule } = await import(${JSON.stringify(`${DIST}index.js`)});
      try {
        await NestFactory.createApplicationContext(MeteringModule.forRoot({ tiers: { tiers: [], meters: [], upgradeUrl: '/' }, dataDir: ${JSON.stringify(join(dir, 'data'))} }), { logger: false, abortOnError: false });
        console.log('started');
      } catch (error) { console.log('ERROR:' + error.message); }`;
    const { stdout } = await run(script, ['@electric-sql/pglite']);
    expect(stdout).toContain('ERROR:The "@electric-sql/pglite" package is missing. Install it to use the embedded database');
  });

  it('a host app runs on explicit options alone: the environment, even a broken one, is not read', async () => {
    // This test's database, given as options: a schema of its own on real Postgres, or an embedded one from the template.
    const database = usingRealPostgres ? await createTestDatabase() : null;
    const dataDir = join(dir, 'explicit');
    const template = process.env.TOLLGATE_TEST_PGLITE_TEMPLATE;
    const where = database ? { databaseUrl: database.databaseUrl, databaseSchema: database.schema } : { dataDir };
    const script = `
      await import('reflect-metadata');
      const template = ${JSON.stringify(database ? null : (template ?? null))};
      if (template) {
        const { openPglite } = await import(${JSON.stringify(`${DIST}database/pglite.driver.js`)});
        const { readFile } = await import('node:fs/promises');
        await (await openPglite(${JSON.stringify(join(dataDir, 'pg'))}, new Blob([await readFile(template)]))).close();
      }
      const { NestFactory } = await import('@nestjs/core');
      const { MeteringModule, TollgateConfig, CustomersService, ApiKeysService, ApiKeyGuard } = await import(${JSON.stringify(`${DIST}index.js`)});
      const app = await NestFactory.createApplicationContext(MeteringModule.forRoot({ tiers: ${JSON.stringify(join(ROOT, 'tiers.yaml'))}, ...${JSON.stringify(where)}, maxKeysPerCustomer: 3 }), { logger: false });
      const config = app.get(TollgateConfig);
      const customer = await app.get(CustomersService).create({ name: 'explicit', tier: 'free' });
      const { secret } = await app.get(ApiKeysService).create(customer.id, { name: 'k' });
      console.log('CONFIG:' + JSON.stringify({ databaseUrl: config.databaseUrl, redisUrl: config.redisUrl, port: config.port, smtpUrl: config.smtpUrl, stripe: config.stripe.secretKey, maxKeys: config.maxKeysPerCustomer, key: secret.length > 20 }));
      await app.close();`;
    const poisoned = { DATABASE_URL: 'mysql://nope', REDIS_URL: 'nonsense', PORT: 'eighty', TOLLGATE_TIERS: '/nonexistent/tiers.yaml', SMTP_URL: 'smtp://127.0.0.1:1', STRIPE_SECRET_KEY: 'sk_test_from_env', TOLLGATE_MAX_KEYS_PER_CUSTOMER: 'many' };
    try {
      const { stdout } = await run(script, [], poisoned);
      expect(stdout).toContain('CONFIG:' + JSON.stringify({ databaseUrl: database?.databaseUrl ?? null, redisUrl: null, port: 3000, smtpUrl: null, stripe: null, maxKeys: 3, key: true }));
    } finally {
      await database?.dispose();
    }
  });
});
