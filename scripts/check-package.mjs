/* global fetch, setTimeout */
// Packs the library and uses the tarball the way a Nest team would: installs it into a scratch copy of
// examples/host-app (its own package.json: tollgate plus only the peers the app declares, none of the optional
// drivers but PGlite), builds it with tsc, boots it on loopback and meters a route with a key it provisioned.
// Then `tollgate/client` from the same tarball: type-checked in the host app's build, and run by a plain Node
// script in a directory holding the tarball's files and nothing else (no Nest, no package at all).
// Run after `npm run build`. Bounded: fails after 3 minutes.
import { execFile as execFileCb, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFile = promisify(execFileCb);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'tollgate-package-check-'));
const app = join(work, 'host-app');
const started = Date.now();
let server = null;

const deadline = setTimeout(() => fail('took more than 3 minutes'), 180_000);
deadline.unref();

function log(message) {
  process.stdout.write(`check-package [${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

function cleanUp() {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}

function fail(message) {
  process.stderr.write(`check-package: FAILED: ${message}\n`);
  if (server?.output) process.stderr.write(`--- host app output ---\n${server.output}\n`);
  cleanUp();
  process.exit(1);
}

async function run(command, args, cwd) {
  try {
    return (await execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (error) {
    fail(`${command} ${args.join(' ')}: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

if (!existsSync(join(root, 'dist/src/index.js'))) fail('dist/ is missing: run `npm run build` first');

// 1. The tarball, as `npm publish` would upload it.
const tarball = (await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], root)).trim().split('\n').pop();
log(`packed ${tarball}`);

// 2. A host app of its own: the example's sources, the tier catalog, and a package.json declaring only what it uses.
mkdirSync(join(app, 'src'), { recursive: true });
cpSync(join(root, 'examples/host-app'), join(app, 'src'), { recursive: true });
cpSync(join(root, 'tiers.yaml'), join(app, 'tiers.yaml'));
const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const versionOf = (name) => ours.devDependencies[name] ?? fail(`${name} is not a devDependency of tollgate`);
const peers = Object.keys(ours.peerDependencies).filter((name) => !ours.peerDependenciesMeta?.[name]?.optional);
// The example serves HTTP (Express) on the embedded database: the only optional peers it declares.
const declared = [...peers, '@nestjs/platform-express', '@electric-sql/pglite'];
writeFileSync(
  join(app, 'package.json'),
  JSON.stringify(
    {
      name: 'tollgate-host-app-check',
      private: true,
      type: 'module',
      dependencies: { tollgate: `file:../${tarball}`, ...Object.fromEntries(declared.map((name) => [name, versionOf(name)])) },
      devDependencies: { typescript: versionOf('typescript'), '@types/node': versionOf('@types/node') },
    },
    null,
    2,
  ),
);
writeFileSync(
  join(app, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      target: 'ES2023',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      rootDir: 'src',
      outDir: 'dist',
      strict: true,
      strictPropertyInitialization: false,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      skipLibCheck: true,
      types: ['node'],
    },
    include: ['src'],
  }),
);
await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
log('installed the tarball and the declared peers');
const absent = ['pg', 'ioredis', 'nats', 'stripe', 'nodemailer', '@nestjs/swagger', '@nestjs/terminus'].filter((name) => existsSync(join(app, 'node_modules', name)));
if (absent.length > 0) fail(`packages the app did not declare were installed: ${absent.join(', ')}`);

// The client's types through the package's `exports` (`types` condition): a typed call compiles, a wrong one does not.
writeFileSync(
  join(app, 'src/client-check.ts'),
  `import { createTollgateClient, TollgateApiError, type VerifyDecision } from 'tollgate/client';
export async function decide(baseUrl: string, key: string): Promise<VerifyDecision> {
  return createTollgateClient({ baseUrl, adminToken: 'token' }).verify({ key, path: '/v1/reports', method: 'GET' });
}
export const isTollgateError = (error: unknown): boolean => error instanceof TollgateApiError;
// @ts-expect-error the OpenAPI document types the routes: an undocumented one does not compile
export const nowhere = () => createTollgateClient({ baseUrl: 'http://127.0.0.1' }).request('GET', '/v1/nowhere');
`,
);

// 3. Built as the team would build it.
await run(join(app, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app);
log('built the host app with tsc (tollgate/client typed through the exports map)');

// 4. Booted on loopback; DEMO_KEYS=1 makes the example provision a customer and key per tier and print them.
const port = await freePort();
server = spawn(process.execPath, ['dist/main.js'], {
  cwd: app,
  env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), DEMO_KEYS: '1' },
  stdio: ['ignore', 'pipe', 'pipe'],
});
server.output = '';
const keyLine = new Promise((resolve) => {
  const read = (chunk) => {
    server.output += chunk;
    const match = /^free\s+curl -H 'x-api-key: ([^']+)'/m.exec(server.output);
    if (match) resolve(match[1]);
  };
  server.stdout.on('data', read);
  server.stderr.on('data', read);
  server.on('exit', (code) => fail(`the host app exited (${code}) before printing its keys`));
});
const key = await keyLine;
log('the host app started and provisioned its keys');

// 5. Metered: a key's calls are counted against its quota; without a key the route is refused, @Public() is open.
const base = `http://127.0.0.1:${port}`;
const get = (path, headers = {}) => fetch(`${base}${path}`, { headers });
const first = await get('/v1/basic/weather', { 'x-api-key': key });
const second = await get('/v1/basic/weather', { 'x-api-key': key });
const anonymous = await get('/v1/basic/weather');
const status = await get('/status');
const remaining = [first, second].map((response) => Number(response.headers.get('x-quota-remaining')));
if (first.status !== 200 || second.status !== 200) fail(`metered route answered ${first.status}, ${second.status}`);
if (!(remaining[1] === remaining[0] - 1)) fail(`the quota did not count the call: X-Quota-Remaining ${remaining.join(' then ')}`);
if (anonymous.status !== 401) fail(`a call without a key answered ${anonymous.status}, not 401`);
if (status.status !== 200) fail(`@Public() /status answered ${status.status}`);
log(`metered: X-Quota-Remaining ${remaining[0]} → ${remaining[1]}; no key → 401; /status → 200`);

server.removeAllListeners('exit');
server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));

// 6. `tollgate/client` needs nothing installed: the tarball's files alone, imported by name from a plain script,
// against a stand-in service that answers 429 with Retry-After: 1 once (the client waits it out), then 404.
const plain = join(work, 'plain-service');
mkdirSync(join(plain, 'node_modules/tollgate'), { recursive: true });
await run('tar', ['-xzf', join(work, tarball), '--strip-components=1', '-C', join(plain, 'node_modules/tollgate')], work);
writeFileSync(join(plain, 'package.json'), JSON.stringify({ name: 'plain-service', private: true, type: 'module' }));
writeFileSync(
  join(plain, 'check.mjs'),
  `import { createTollgateClient, TollgateApiError } from 'tollgate/client';
const client = createTollgateClient({ baseUrl: process.argv[2], adminToken: 'token' });
const error = await client.customers.get('cus_1').catch((caught) => caught);
console.log(JSON.stringify({ apiError: error instanceof TollgateApiError, status: error.status, code: error.code }));
`,
);
const answers = [];
const standIn = createHttpServer((request, response) => {
  answers.push({ at: Date.now(), url: request.url, authorization: request.headers.authorization });
  const [status, body, headers] =
    answers.length === 1
      ? [429, { error: 'rate_limit_exceeded', message: 'Slow down.', retryAfter: 1 }, { 'retry-after': '1' }]
      : [404, { error: 'customer_not_found', message: 'No customer cus_1.' }, {}];
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
});
await new Promise((resolve) => standIn.listen(0, '127.0.0.1', resolve));
const output = await run(process.execPath, ['check.mjs', `http://127.0.0.1:${standIn.address().port}`], plain);
standIn.close();
const outcome = JSON.parse(output.trim().split('\n').pop());
if (!(outcome.apiError && outcome.status === 404 && outcome.code === 'customer_not_found')) fail(`tollgate/client answered ${output}`);
if (answers.length !== 2 || answers[0].url !== '/v1/customers/cus_1' || answers[0].authorization !== 'Bearer token') fail(`the stand-in saw ${JSON.stringify(answers)}`);
if (answers[1].at - answers[0].at < 1000) fail(`tollgate/client retried ${answers[1].at - answers[0].at} ms after a Retry-After of 1 s`);
log(`tollgate/client from the bare tarball: 429 waited out (${answers[1].at - answers[0].at} ms), then TollgateApiError 404 customer_not_found`);

cleanUp();
log('OK');
