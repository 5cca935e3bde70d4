import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { until } from '../support/wait.js';

/**
 * A service that is not Nest (python's http.server) behind a real nginx whose `auth_request` asks Tollgate: tier
 * globs, rate limits and quotas are enforced at the gateway, usage is counted exactly, and a refusal's status and
 * headers (429 + Retry-After, RateLimit, X-Quota) reach the client. The nginx config is the README's, run as written.
 */
const NGINX = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
if (!existsSync(NGINX)) {
  // Not a skip: `npm test` installs it (scripts/ensure-test-tools.sh, as root); else `apt-get install -y nginx`.
  throw new Error(`${NGINX} is missing: install nginx (apt-get install -y nginx) or point NGINX_BIN at it`);
}

/** The upstream: answers every GET with what it was asked and the customer nginx told it about. */
const UPSTREAM = `
import http.server, json, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "customer": self.headers.get("X-Customer-Id"), "apiKey": self.headers.get("x-api-key")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
`;

/** The README's nginx config, pointed at this test's ports and key: the README's example is what runs here. */
export function nginxConfig(options: { prefix: string; port: number; tollgate: string; upstream: string; verifierKey: string }): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  let server = /```nginx\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!server) throw new Error('README.md has no ```nginx block');
  const replacements: Array<[string, string]> = [
    ['listen 8080;', `listen 127.0.0.1:${options.port};`],
    ['http://127.0.0.1:8000;', `http://${options.upstream};`],
    ['http://127.0.0.1:3000/v1/keys/verify/auth-request;', `http://${options.tollgate}/v1/keys/verify/auth-request;`],
    ['"tg_live_…"', `"${options.verifierKey}"`],
    ['~^/v1/reports/ 5;', '~^/v1/reports/ 5; ~^/v1/basic/heavy 3;'],
  ];
  for (const [from, to] of replacements) {
    if (!server.includes(from)) throw new Error(`README's nginx block no longer has ${from}: update this test with it`);
    server = server.replace(from, to);
  }
  return `daemon off;
master_process off;
error_log ${options.prefix}/error.log warn;
pid ${options.prefix}/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${options.prefix}/tmp/body;
  proxy_temp_path ${options.prefix}/tmp/proxy;
  fastcgi_temp_path ${options.prefix}/tmp/fastcgi;
  uwsgi_temp_path ${options.prefix}/tmp/uwsgi;
  scgi_temp_path ${options.prefix}/tmp/scgi;
${server}}
`;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

describe('nginx auth_request in front of a non-Node service', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  let prefix: string;
  let nginx: ChildProcess;
  let upstream: ChildProcess;
  let gateway: string;

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${gateway}${path}`, { headers });
  const counted = async (customerId: string) =>
    Number((await database.query<{ sum: string | null }>('SELECT sum(total)::text AS sum FROM usage_counters WHERE customer_id = $1', [customerId]))[0].sum ?? 0);

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database) });
    admin = new AdminClient(service.url);
    const operator = await admin.createCustomer('free', { name: 'gateway' });
    const verifierKey = (await admin.createKey(operator.id, { name: 'nginx', scopes: ['verify'] })).secret;

    prefix = mkdtempSync(join(tmpdir(), 'tollgate-nginx-'));
    mkdirSync(join(prefix, 'tmp'));
    const [nginxPort, upstreamPort] = [await freePort(), await freePort()];
    upstream = spawn('python3', ['-c', UPSTREAM, String(upstreamPort)], { stdio: 'ignore' });
    writeFileSync(join(prefix, 'nginx.conf'), nginxConfig({ prefix, port: nginxPort, tollgate: new URL(service.url).host, upstream: `127.0.0.1:${upstreamPort}`, verifierKey }));
    nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let nginxErrors = '';
    nginx.stderr!.on('data', (chunk: Buffer) => (nginxErrors += chunk.toString()));
    gateway = `http://127.0.0.1:${nginxPort}`;
    try {
      // Ready when nginx answers and the upstream behind it does (a request without a key never reaches it).
      const exited = new Promise<never>((_resolve, reject) => nginx.once('exit', (code) => reject(new Error(`nginx exited with ${code}`))));
      await Promise.race([exited, until(() => fetch(`${gateway}/`).then((response) => response.status === 401, () => false))]);
      await until(() => fetch(`http://127.0.0.1:${upstreamPort}/`).then(() => true, () => false));
    } catch (error) {
      const log = existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : '';
      throw new Error(`nginx did not come up: ${nginxErrors} ${log}`, { cause: error });
    }
  });

  afterAll(async () => {
    await stop(nginx);
    await stop(upstream);
    await service?.close();
    await database?.dispose();
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  });

  it('serves an allowed request from the upstream, which learns the customer and never sees the key', async () => {
    const customer = await admin.customerWithKey('pro');
    const response = await get('/v1/search?q=nginx', { 'x-api-key': customer.secret });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ path: '/v1/search?q=nginx', customer: customer.customerId, apiKey: null });
    expect(response.headers.get('x-ratelimit-limit')).toBe('100');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('99');
    expect(response.headers.get('ratelimit')).toMatch(/^"w60";r=99;t=\d+$/);
    expect(response.headers.get('x-quota-remaining')).toBe('49999');
    expect(response.headers.get('retry-after')).toBeNull();
    // Authorization: Bearer works as well as x-api-key.
    expect((await get('/v1/search', { authorization: `Bearer ${customer.secret}` })).status).toBe(200);
    expect(await counted(customer.customerId)).toBe(2);
  });

  it('refuses a missing or unknown key with 401 and its challenge, a tier too low for the glob with 403', async () => {
    const missing = await get('/v1/basic/echo');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect(await missing.json()).toEqual({ error: 'invalid_api_key' });
    expect((await get('/v1/basic/echo', { 'x-api-key': 'tg_live_unknownunknownunknown' })).status).toBe(401);

    const free = await admin.customerWithKey('free');
    expect((await get('/v1/basic/echo', { 'x-api-key': free.secret })).status).toBe(200);
    const search = await get('/v1/search', { 'x-api-key': free.secret });
    expect(search.status).toBe(403);
    expect(await search.json()).toEqual({ error: 'tier_required' });
    expect(await counted(free.customerId)).toBe(1);
  });

  it('lets exactly the rate limit through a burst; the rest get 429 with Retry-After and the rate-limit headers', async () => {
    const free = await admin.customerWithKey('free'); // 10/min
    const burst = await Promise.all(Array.from({ length: 14 }, () => get('/v1/basic/echo', { 'x-api-key': free.secret })));
    const statuses = burst.map((response) => response.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(4);
    const refused = burst.find((response) => response.status === 429)!;
    expect(await refused.json()).toEqual({ error: 'rate_limit_exceeded' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(refused.headers.get('x-ratelimit-limit')).toBe('10');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset')).toBe(String(retryAfter));
    expect(refused.headers.get('ratelimit-policy')).toBe('"w60";q=10;w=60');
    // Usage counted exactly: the served requests, not the refused ones.
    expect(await counted(free.customerId)).toBe(10);
  });

  it('enforces the quota with 429 quota_exceeded, weighs the configured cost, and counts usage exactly', async () => {
    const customer = await admin.createCustomer('free', { overrides: { includedCalls: 5, rateLimit: ['1000/min'] } });
    const { secret } = await admin.createKey(customer.id);
    const heavy = await get('/v1/basic/heavy', { 'x-api-key': secret });
    expect(heavy.status).toBe(200);
    expect(heavy.headers.get('x-quota-remaining')).toBe('2');
    expect((await get('/v1/basic/echo', { 'x-api-key': secret })).status).toBe(200);
    expect((await get('/v1/basic/echo', { 'x-api-key': secret })).status).toBe(200);
    const over = await get('/v1/basic/echo', { 'x-api-key': secret });
    expect(over.status).toBe(429);
    expect(await over.json()).toEqual({ error: 'quota_exceeded' });
    expect(over.headers.get('x-quota-limit')).toBe('5');
    expect(over.headers.get('x-quota-remaining')).toBe('0');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await counted(customer.id)).toBe(5);
  });

  it('answers a request Tollgate cannot describe (a malformed Idempotency-Key) with 400, not a gateway error', async () => {
    const customer = await admin.customerWithKey('pro');
    const response = await get('/v1/search', { 'x-api-key': customer.secret, 'idempotency-key': 'x'.repeat(300) });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'invalid_idempotency_key' });
    expect(await counted(customer.customerId)).toBe(0);
  });

  it('counts a retry with the same Idempotency-Key once', async () => {
    const customer = await admin.customerWithKey('pro');
    for (let i = 0; i < 3; i++) expect((await get('/v1/search', { 'x-api-key': customer.secret, 'idempotency-key': 'order-7' })).status).toBe(200);
    expect(await counted(customer.customerId)).toBe(1);
  });

  it("enforces a key's own controls: its rate limit, IP allowlist (nginx's $remote_addr), endpoints and usage cap", async () => {
    const customer = await admin.createCustomer('pro');
    const keyWith = async (controls: Record<string, unknown>) => (await admin.createKey(customer.id, { controls })).secret;

    const limited = await keyWith({ rateLimit: ['2/min'] });
    const burst = await Promise.all(Array.from({ length: 5 }, () => get('/v1/basic/echo', { 'x-api-key': limited })));
    expect(burst.map((response) => response.status).sort()).toEqual([200, 200, 429, 429, 429]);
    const refused = burst.find((response) => response.status === 429)!;
    expect(await refused.json()).toEqual({ error: 'rate_limit_exceeded' });
    expect(refused.headers.get('x-ratelimit-limit')).toBe('2');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    // The client reaches nginx from 127.0.0.1: nginx passes that on as X-Original-IP.
    expect((await get('/v1/basic/echo', { 'x-api-key': await keyWith({ ipAllowlist: ['127.0.0.0/8'] }) })).status).toBe(200);
    const elsewhere = await get('/v1/basic/echo', { 'x-api-key': await keyWith({ ipAllowlist: ['203.0.113.0/24'] }) });
    expect(elsewhere.status).toBe(403);
    expect(await elsewhere.json()).toEqual({ error: 'ip_not_allowed' });

    const narrow = await keyWith({ endpoints: ['/v1/basic/**'] });
    expect((await get('/v1/basic/echo', { 'x-api-key': narrow })).status).toBe(200);
    const outside = await get('/v1/search', { 'x-api-key': narrow });
    expect(outside.status).toBe(403);
    expect(await outside.json()).toEqual({ error: 'endpoint_not_allowed' });

    const capped = await keyWith({ usageCap: { remaining: 2 } });
    expect((await get('/v1/basic/echo', { 'x-api-key': capped })).status).toBe(200);
    expect((await get('/v1/basic/echo', { 'x-api-key': capped })).status).toBe(200);
    const spent = await get('/v1/basic/echo', { 'x-api-key': capped });
    expect(spent.status).toBe(429);
    expect(await spent.json()).toEqual({ error: 'usage_exceeded' });
    // Served: 2 (rate limit) + 1 (allowlist) + 1 (endpoints) + 2 (cap).
    expect(await counted(customer.id)).toBe(6);
  });
});
