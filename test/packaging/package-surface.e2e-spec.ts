import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Runs the built package (`npm run build` first) in fresh Node processes, as a host app would load it.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = pathToFileURL(join(ROOT, 'dist/src/')).href;
const HOOKS = pathToFileURL(join(ROOT, 'test/packaging/record-imports.hooks.mjs')).href;
const REGISTER = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(HOOKS)})`;

/** Only what the service needs: none of it may load with `import 'tollgate'`. */
const SERVICE_ONLY = [/\/node_modules\/@nestjs\/swagger\//, /\/node_modules\/@nestjs\/terminus\//, /\/node_modules\/nodemailer\//, /\/dist\/src\/(admin|portal|demo)\//, /\/dist\/src\/(bootstrap|app\.module|service|main)\.js$/];
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
function run(script: string, hide: string[] = []): Promise<Run> {
  const importsFile = join(dir, `imports-${Math.random().toString(36).slice(2)}.txt`);
  const body = `${script}\nconst { createRequire } = await import('node:module');\nconsole.log('CJS:' + JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--no-warnings', '--import', REGISTER, '--input-type=module', '-e', body],
      // Nothing of the test's environment reaches the child but what Node needs: the library must not need it.
      { cwd: ROOT, env: { PATH: process.env.PATH, TOLLGATE_IMPORTS_FILE: importsFile, TOLLGATE_HIDE_PACKAGES: hide.join(','), STRIPE_SUPPRESS_NOTICES: 'true' }, timeout: 20_000 },
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

  it("loads with every optional peer missing; `tollgate/service` is what loads the service's parts", async () => {
    const hide = ['pg', '@electric-sql/pglite', 'ioredis', 'stripe', 'nodemailer'];
    const { loaded } = await run(`await import(${JSON.stringify(`${DIST}index.js`)});\nawait import(${JSON.stringify(`${DIST}service.js`)});`, hide);
    expect(loaded.some((url) => /\/node_modules\/@nestjs\/swagger\//.test(url))).toBe(true);
    expect(loaded.some((url) => /\/dist\/src\/portal\/portal\.module\.js$/.test(url))).toBe(true);
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
});
