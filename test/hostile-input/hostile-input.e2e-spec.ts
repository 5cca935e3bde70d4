import Stripe from 'stripe';
import fc from 'fast-check';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { AdminClient } from '../support/admin.js';
import { checkResponse } from '../support/contract.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, parseBody } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';
import { startStallProbe } from '../support/stall-probe.js';
import { type BodySpec, type FieldSpec, hostileBodies, hostileUrlPart, hostileValue, rawBodies, SEED, validBody } from './hostile-inputs.js';

/**
 * Every route of the OpenAPI document, plus the routes it leaves out (portal API, Stripe webhooks, pages,
 * operations), gets generated hostile input — in path parameters, query strings, bodies and headers — as
 * the caller it expects (admin, key holder, portal session). No answer may be a 5xx, and a health probe
 * sent all along must never wait 200 ms or more: one request must not stall the others.
 */

const WEBHOOK_SECRET = 'whsec_hostile_suite_0123456789';
/** Runs per route of the generated one-field / all-fields bodies and of the generated URLs (fixed seed). */
const BODY_RUNS = 8;
const URL_RUNS = 5;
const CONCURRENCY = 2;
const PROBE_BUDGET_MS = 200;
/** ~1300 requests: about 10 s on an idle 2-core box, several times that when it is shared. */
const SUITE_TIMEOUT_MS = 150_000;
/** An app, three customers, keys and a portal sign-in: more than Jest's 30 s when the box runs the whole suite. */
const SETUP_TIMEOUT_MS = 90_000;

type Auth = 'admin' | 'key' | 'portal' | 'console' | 'verifier' | 'none';

interface Operation {
  method: string;
  /** With `{param}` placeholders. */
  path: string;
  auth: Auth;
  query: string[];
  body?: BodySpec;
  /** Raw bodies are sent to every route with a body; sign-in routes also refuse anything but JSON. */
  bulk?: boolean;
}

interface HostileRequest {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

interface OpenApiSchema {
  type?: string;
  format?: string;
  enum?: string[];
  $ref?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
}

interface OpenApiOperation {
  parameters?: Array<{ in: string; name: string }>;
  security?: Array<Record<string, unknown>>;
  requestBody?: { content?: Record<string, { schema?: OpenApiSchema }> };
}

interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, OpenApiSchema> };
}

/** Values that pass validation, so a hostile value in one field meets the rest of the route's code. */
const VALID_FIELDS: Record<string, unknown> = {
  name: 'hostile suite',
  tier: 'pro',
  email: 'hostile@example.com',
  webhookUrl: 'https://hooks.example.com/tollgate',
  url: 'https://hooks.example.com/tollgate',
  mode: 'test',
  scopes: ['ingest'],
  expiresAt: '2099-01-01T00:00:00Z',
  gracePeriodSeconds: 0,
  overrides: { includedCalls: 10 },
  // The verify API's body: the request to decide (its key is the caller's, set once the suite has one).
  path: '/v1/search',
  method: 'GET',
  cost: 1,
  meter: 'api_calls',
  idempotencyKey: 'hostile-suite',
  record: false,
  ip: '203.0.113.7',
  // Per-key controls a key holder may set too (metadata is the operator's: it gets hostile values below).
  controls: { rateLimit: ['10/min'], ipAllowlist: ['203.0.113.0/24', '2001:db8::/32'], endpoints: ['/v1/**'], usageCap: { remaining: 10, refill: { amount: 10, interval: 'day' } } },
};

/** Hostile values for one control at a time: bad CIDRs, huge numbers, NUL bytes, deep or big metadata, wrong shapes. */
const HOSTILE_CONTROLS: Record<string, unknown[]> = {
  rateLimit: [['99999999999999999999/min'], ['0/min'], ['1/0min'], ['1/fortnight'], ['a\u0000b'], Array(6).fill('1/min'), [5], 'not-a-list'],
  ipAllowlist: [
    ['10.0.0.0/33'],
    ['2001:db8::/129'],
    ['fe80::1%eth0'],
    ['10.0.0.0/-1'],
    ['10.0.0.0/008'],
    ['256.1.1.1'],
    ['::ffff:999.1.1.1'],
    ['1.2.3.4\u0000'],
    ['1.2.3.4/'],
    ['x'.repeat(5000)],
    Array(51).fill('10.0.0.1'),
    [null],
    [],
  ],
  endpoints: [['no-slash'], ['/v1/\u0000'], ['/' + '*'.repeat(199)], ['/' + 'a'.repeat(5000)], ['/v1/ space'], Array(51).fill('/v1/*'), [{}]],
  usageCap: [
    { remaining: 2 ** 53 },
    { remaining: 1e308 },
    { remaining: -1 },
    { remaining: 1.5 },
    { remaining: '10' },
    { remaining: 1, refill: { amount: 1e21, interval: 'day' } },
    { remaining: 1, refill: { amount: 1, interval: 'fortnight' } },
    { remaining: 1, refill: { amount: 1 } },
    { remaining: 1, refill: 'day' },
    { refill: { amount: 1, interval: 'day' } },
    [],
  ],
  metadata: [
    { a: { b: { c: { d: { e: 1 } } } } },
    JSON.parse('{"a":' + '['.repeat(25) + ']'.repeat(25) + '}'),
    { blob: 'x'.repeat(5000) },
    { 'a\u0000': 1 },
    { a: 'b\u0000' },
    JSON.parse('{"__proto__":{"polluted":true}}'),
    Object.fromEntries(Array.from({ length: 800 }, (_, i) => [`k${i}`, i])),
    ['an', 'array'],
    'text',
    42,
  ],
};

function bodySpecOf(schema: OpenApiSchema | undefined, document: OpenApiDocument): BodySpec | undefined {
  const resolved = schema?.$ref ? document.components.schemas[schema.$ref.split('/').pop()!] : schema;
  if (!resolved?.properties) return undefined;
  return Object.fromEntries(
    Object.entries(resolved.properties).map(([name, property]): [string, FieldSpec] => {
      const type = property.$ref ? 'object' : property.format === 'date-time' || name === 'expiresAt' ? 'date-time' : (property.type as FieldSpec['type']) ?? 'object';
      return [name, { type, enum: property.enum, required: resolved.required?.includes(name), valid: VALID_FIELDS[name] }];
    }),
  );
}

/** Every operation of the OpenAPI document, with its caller taken from its security requirement. */
function documentedOperations(document: OpenApiDocument): Operation[] {
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]): Operation => {
      const security = Object.keys(operation.security?.[0] ?? {})[0];
      return {
        method: method.toUpperCase(),
        path,
        auth: security === 'admin' ? 'admin' : security === 'api-key' ? 'key' : security === 'verifier' ? 'verifier' : 'none',
        query: (operation.parameters ?? []).filter((parameter) => parameter.in === 'query').map((parameter) => parameter.name),
        body: bodySpecOf(operation.requestBody?.content?.['application/json']?.schema, document),
        bulk: path === '/v1/events',
      };
    }),
  );
}

const text = (valid?: unknown): FieldSpec => ({ type: 'string', valid });

/** Routes the OpenAPI document leaves out, listed by hand. */
const UNDOCUMENTED: Operation[] = [
  { method: 'POST', path: '/portal/api/login', auth: 'none', query: [], body: { apiKey: text() } },
  { method: 'POST', path: '/portal/api/login/email', auth: 'none', query: [], body: { email: text('nobody@example.com') } },
  { method: 'POST', path: '/portal/api/login/email/complete', auth: 'none', query: [], body: { token: text() } },
  { method: 'GET', path: '/portal/api/session', auth: 'portal', query: [] },
  // Sign-out would end the suite's session: it gets hostile input without one.
  { method: 'POST', path: '/portal/api/logout', auth: 'none', query: [] },
  { method: 'GET', path: '/portal/api/overview', auth: 'portal', query: [] },
  { method: 'GET', path: '/portal/api/keys', auth: 'portal', query: [] },
  { method: 'POST', path: '/portal/api/keys', auth: 'portal', query: [], body: { name: text(), mode: { type: 'string', enum: ['live', 'test'] }, controls: { type: 'object' } } },
  { method: 'PATCH', path: '/portal/api/keys/{keyId}', auth: 'portal', query: [], body: { name: text(), controls: { type: 'object' } } },
  { method: 'POST', path: '/portal/api/keys/{keyId}/rotate', auth: 'portal', query: [], body: { gracePeriodSeconds: { type: 'integer', valid: 0 } } },
  { method: 'DELETE', path: '/portal/api/keys/{keyId}', auth: 'portal', query: [] },
  { method: 'PUT', path: '/portal/api/webhook', auth: 'portal', query: [], body: { url: text() } },
  { method: 'POST', path: '/portal/api/webhook/secret', auth: 'portal', query: [] },
  { method: 'POST', path: '/portal/api/upgrade', auth: 'portal', query: [], body: { tier: text('enterprise') } },
  { method: 'POST', path: '/v1/stripe/webhooks', auth: 'none', query: [], body: { id: text(), type: text('invoice.paid'), created: { type: 'integer' }, data: { type: 'object' } }, bulk: true },
  { method: 'GET', path: '/portal', auth: 'none', query: ['checkout'] },
  // The operator console (its session comes from the admin token): pages, sign-in, and its JSON API.
  { method: 'GET', path: '/console', auth: 'none', query: [] },
  { method: 'GET', path: '/console/assets/{consoleFile}', auth: 'none', query: [] },
  { method: 'POST', path: '/console/api/login', auth: 'none', query: [], body: { token: text() } },
  { method: 'GET', path: '/console/api/session', auth: 'console', query: [] },
  // Sign-out would end the suite's console session: it gets hostile input without one.
  { method: 'POST', path: '/console/api/logout', auth: 'none', query: [] },
  { method: 'GET', path: '/console/api/overview', auth: 'console', query: [] },
  { method: 'GET', path: '/console/api/customers', auth: 'console', query: ['q', 'tier', 'status', 'sort'] },
  { method: 'GET', path: '/console/api/customers/{customerId}', auth: 'console', query: [] },
  { method: 'PATCH', path: '/console/api/customers/{customerId}/status', auth: 'console', query: [], body: { status: { type: 'string', enum: ['active', 'suspended'] } } },
  { method: 'PATCH', path: '/console/api/customers/{customerId}/tier', auth: 'console', query: [], body: { tier: text('pro') } },
  { method: 'POST', path: '/console/api/customers/{customerId}/keys', auth: 'console', query: [], body: { name: text(), scopes: { type: 'array' }, controls: { type: 'object' } } },
  { method: 'PATCH', path: '/console/api/customers/{customerId}/keys/{victimKeyId}', auth: 'console', query: [], body: { name: text(), controls: { type: 'object' } } },
  { method: 'POST', path: '/console/api/customers/{customerId}/keys/{victimKeyId}/rotate', auth: 'console', query: [], body: { gracePeriodSeconds: { type: 'integer', valid: 0 } } },
  { method: 'DELETE', path: '/console/api/customers/{customerId}/keys/{victimKeyId}', auth: 'console', query: [] },
  { method: 'POST', path: '/console/api/customers/{customerId}/notifications/{notificationId}/redeliver', auth: 'console', query: [] },
  { method: 'GET', path: '/console/api/pushes', auth: 'console', query: ['status'] },
  { method: 'POST', path: '/console/api/pushes/{pushId}/retry', auth: 'console', query: [] },
  { method: 'GET', path: '/console/api/events', auth: 'console', query: ['customerId', 'meter', 'from', 'to'] },
  { method: 'GET', path: '/console/api/sync-runs', auth: 'console', query: [] },
  { method: 'GET', path: '/console/api/provisioning', auth: 'console', query: [] },
  { method: 'GET', path: '/console/api/reconciliation', auth: 'console', query: [] },
  { method: 'GET', path: '/portal/assets/{file}', auth: 'none', query: [] },
  { method: 'GET', path: '/health/live', auth: 'none', query: [] },
  { method: 'GET', path: '/health/ready', auth: 'none', query: [] },
  { method: 'GET', path: '/metrics', auth: 'none', query: [] },
  { method: 'GET', path: '/docs/openapi.json', auth: 'none', query: [] },
];

describe('hostile input on every route', () => {
  let database: TestDatabase;
  let service: TestApp;
  let config: TollgateConfig;
  let operations: Operation[];
  /** Ids that exist, so hostile bodies and queries reach the services and the database, not only a 404. */
  let ids: Record<string, string>;
  let credentials: Record<Auth, Record<string, string>>;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database, { demo: true, logLevel: 'warn', stripe: { secretKey: null, apiUrl: null, webhookSecret: WEBHOOK_SECRET } }) });
    config = service.app.get(TollgateConfig);
    const admin = new AdminClient(service.url);
    // The callers live on a customer the admin routes never touch (the hostile PATCHes could suspend it).
    const holder = await admin.createCustomer('enterprise', { overrides: { includedCalls: 1_000_000_000, rateLimit: ['1000000/min'] } });
    const holderKey = await admin.createKey(holder.id, { name: 'caller', scopes: ['ingest'] });
    const portalKey = await admin.createKey(holder.id, { name: 'portal' });
    const spareKey = await admin.createKey(holder.id, { name: 'spare' });
    const victim = await admin.createCustomer('pro', { email: 'victim@example.com' });
    const victimKey = await admin.createKey(victim.id, { name: 'victim' });
    VALID_FIELDS.key = holderKey.secret;
    ids = { customerId: victim.id, keyId: spareKey.key.id, victimKeyId: victimKey.key.id, notificationId: 'ntf_unknown', file: 'portal.js', consoleFile: 'console.js', pushId: '1' };

    const login = await call('POST', `${service.url}/portal/api/login`, { body: { apiKey: portalKey.secret } });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const consoleLogin = await call('POST', `${service.url}/console/api/login`, { body: { token: TEST_ADMIN_TOKEN } });
    expect(consoleLogin.status).toBe(200);
    credentials = {
      admin: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      key: { 'x-api-key': holderKey.secret },
      portal: { cookie, 'x-csrf-token': login.body.csrfToken as string },
      console: { cookie: consoleLogin.headers.get('set-cookie')!.split(';')[0], 'x-csrf-token': consoleLogin.body.csrfToken as string },
      // nginx's auth_request door: the verifier in its own header, the client's key and original URI beside it.
      verifier: { 'x-tollgate-verifier': TEST_ADMIN_TOKEN, 'x-api-key': holderKey.secret, 'x-original-uri': '/v1/search?q=1', 'x-original-method': 'GET' },
      none: {},
    };
    const document = (await call('GET', `${service.url}/docs/openapi.json`)).body as OpenApiDocument;
    operations = [...documentedOperations(document), ...UNDOCUMENTED];
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await service?.close();
    await database?.dispose();
  });

  /** The path with real ids (admin routes get the victim's key, others the caller's spare key), then with one parameter hostile. */
  function paths(operation: Operation, seed: number): string[] {
    const names = [...operation.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
    const fill = (hostile?: { name: string; part: string }) =>
      operation.path.replace(/\{(\w+)\}/g, (_match, name: string) => {
        if (name === hostile?.name) return hostile.part;
        return name === 'keyId' && operation.auth === 'admin' ? ids.victimKeyId : (ids[name] ?? 'unknown');
      });
    if (names.length === 0) return [fill()];
    const nul = names.map((name) => fill({ name, part: '%00' }));
    return [fill(), ...nul, ...fc.sample(hostileUrlPart, { seed, numRuns: URL_RUNS }).map((part, run) => fill({ name: names[run % names.length], part }))];
  }

  function queries(operation: Operation, seed: number): string[] {
    const names = [...operation.query, 'unexpected'];
    const values = fc.sample(fc.record({ name: fc.constantFrom(...names), part: hostileUrlPart, repeat: fc.boolean() }), { seed, numRuns: URL_RUNS });
    const nul = operation.query.map((name) => `?${name}=%00`);
    return [...nul, ...values.map(({ name, part, repeat }) => `?${name}=${part}${repeat ? `&${name}=${part}&${name}[x]=1` : ''}`)];
  }

  function requestsFor(operation: Operation, index: number): HostileRequest[] {
    const seed = SEED + index * 101;
    const auth = credentials[operation.auth];
    const requests: HostileRequest[] = [];
    const label = `${operation.method} ${operation.path}`;
    const [realPath, ...hostilePaths] = paths(operation, seed);
    for (const path of hostilePaths) requests.push({ label: `${label} path`, method: operation.method, path, headers: { ...auth } });
    for (const query of queries(operation, seed)) requests.push({ label: `${label} query`, method: operation.method, path: realPath + query, headers: { ...auth } });
    // Hostile headers that reach our code: request id, idempotency key, and the caller's own credentials.
    const headerValues = fc.sample(fc.constantFrom('x'.repeat(8000), '../..', '%00', ' ', '\t'), { seed, numRuns: 2 });
    for (const value of headerValues) {
      requests.push({ label: `${label} headers`, method: operation.method, path: realPath, headers: { ...auth, 'x-request-id': value, 'idempotency-key': value } });
    }
    // The auth-request door reads the original request from headers: each one hostile in turn.
    if (operation.auth === 'verifier') {
      for (const value of [...headerValues, '/v1/%00', '99999999999999999999', '1.5', '-1', '10.0.0.0/8', 'fe80::1%eth0', '::ffff:999.1.1.1']) {
        for (const name of ['x-original-uri', 'x-original-method', 'x-tollgate-cost', 'x-tollgate-meter', 'x-original-ip']) {
          requests.push({ label: `${label} decision headers`, method: operation.method, path: realPath, headers: { ...auth, [name]: value } });
        }
      }
    }
    const spoofed: Record<Auth, Record<string, string>> = {
      admin: { authorization: `Bearer ${'A'.repeat(4000)}` },
      key: { 'x-api-key': `tg_live_${'Z'.repeat(4000)}` },
      portal: { cookie: `tg_portal_session=${'q'.repeat(4000)}; tg_portal_session=x`, 'x-csrf-token': credentials.portal['x-csrf-token'] },
      console: { cookie: `tg_console_session=${'q'.repeat(4000)}; tg_console_session=x`, 'x-csrf-token': credentials.console['x-csrf-token'] },
      verifier: { 'x-tollgate-verifier': `tg_live_${'V'.repeat(4000)}`, 'x-original-uri': '/%00' },
      none: { authorization: 'Basic Og==' },
    };
    requests.push({ label: `${label} spoofed credentials`, method: operation.method, path: realPath, headers: spoofed[operation.auth] });

    if (!operation.body && operation.method === 'GET') return requests;
    const withBody = (body: string, contentType: string, what: string): HostileRequest => ({
      label: `${label} ${what}`,
      method: operation.method,
      path: realPath,
      headers: { ...auth, 'content-type': contentType },
      body,
    });
    for (const body of hostileBodies(operation.body ?? {}, BODY_RUNS, seed)) {
      requests.push(withBody(JSON.stringify(body), 'application/json', 'body'));
    }
    // Per-key controls (create and update, admin and key holder): each control hostile in turn, within valid others.
    if (operation.body?.controls) {
      for (const [control, values] of Object.entries(HOSTILE_CONTROLS)) {
        for (const value of [...values, null]) {
          requests.push(withBody(JSON.stringify({ name: 'hostile controls', controls: { ...(VALID_FIELDS.controls as object), [control]: value } }), 'application/json', `controls.${control}`));
        }
      }
    }
    if (operation.path === '/v1/keys/verify' && operation.method === 'POST') {
      for (const ip of ['10.0.0.0/8', 'fe80::1%eth0', '::ffff:999.1.1.1', '1.2.3.4\u0000', 'x'.repeat(5000), 42, ['1.2.3.4']]) {
        requests.push(withBody(JSON.stringify({ ...validBody(operation.body ?? {}), ip }), 'application/json', 'verify ip'));
      }
    }
    const limit = operation.bulk ? config.bulkBodyLimitBytes : config.bodyLimitBytes;
    for (const raw of rawBodies(limit, config.jsonMaxDepth, config.jsonMaxWidth)) requests.push(withBody(raw.body, raw.contentType, raw.label));
    if (operation.path === '/v1/events') requests.push(...eventBatches(label));
    if (operation.path === '/v1/stripe/webhooks') requests.push(...signedStripeEvents(label, seed));
    return requests;
  }

  /** Batches of events, one field of each event hostile: each event is accepted or rejected on its own. */
  function eventBatches(label: string): HostileRequest[] {
    const event = fc.record({
      customerId: fc.oneof(fc.constant(ids.customerId), hostileValue),
      meter: fc.oneof(fc.constant('api_calls'), hostileValue),
      quantity: fc.oneof(fc.constant(1), hostileValue),
      timestamp: fc.oneof(fc.constant(new Date().toISOString()), hostileValue),
      idempotencyKey: fc.oneof(fc.uuid(), hostileValue),
      properties: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), hostileValue, { maxKeys: 4 })),
    });
    const batches = fc.sample(fc.array(event, { minLength: 1, maxLength: 40 }), { seed: SEED, numRuns: 10 });
    return batches.map((events) => ({ label: `${label} event batch`, method: 'POST', path: '/v1/events', headers: { ...credentials.admin, 'content-type': 'application/json' }, body: JSON.stringify({ events }) }));
  }

  /** Correctly signed Stripe events with hostile contents: the signature passes, the payload must not hurt. */
  function signedStripeEvents(label: string, seed: number): HostileRequest[] {
    const stripe = new Stripe('sk_test_hostile_suite');
    const event = fc.record({
      id: fc.oneof(fc.constant('evt_hostile'), hostileValue),
      type: fc.constantFrom('customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted', 'invoice.paid', 'invoice.payment_failed', 'x'),
      created: fc.oneof(fc.constant(Math.floor(Date.now() / 1000)), hostileValue),
      data: fc.oneof(
        fc.record({ object: fc.record({ object: fc.constantFrom('subscription', 'invoice'), id: hostileValue, customer: hostileValue, status: hostileValue, items: hostileValue, current_period_start: hostileValue }) }),
        hostileValue,
      ),
    });
    return fc.sample(event, { seed, numRuns: 16 }).map((payload) => {
      const body = JSON.stringify(payload);
      return { label: `${label} signed event`, method: 'POST', path: '/v1/stripe/webhooks', headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: WEBHOOK_SECRET }) }, body };
    });
  }

  it('answers every hostile request without a 5xx, and never stalls a concurrent health probe', async () => {
    expect(new Set(operations.map((operation) => `${operation.method} ${operation.path}`)).size).toBeGreaterThanOrEqual(50);
    const failures: string[] = [];
    /** Statuses per route, to check that hostile input reached past the credential check where it should. */
    const statuses = new Map<string, Set<number>>();
    let sent = 0;
    const inFlight = new Set<HostileRequest>();
    const summarize = (request: HostileRequest) => `${request.label} ${request.method} ${request.path.slice(0, 80)} ${request.body?.slice(0, 160) ?? ''}`;
    const probe = startStallProbe(`${service.url}/health/live`, () => [...inFlight].map(summarize));
    const started = performance.now();
    // Route by route (generated just before they are sent), a few requests at a time.
    for (const [index, operation] of operations.entries()) {
      const requests = requestsFor(operation, index);
      let next = 0;
      const worker = async () => {
        while (next < requests.length) {
          const request = requests[next++];
          inFlight.add(request);
          try {
            const response = await fetch(`${service.url}${request.path}`, { method: request.method, headers: request.headers, body: request.body });
            const text = await response.text();
            const route = `${operation.method} ${operation.path}`;
            statuses.set(route, (statuses.get(route) ?? new Set()).add(response.status));
            if (response.status >= 500) failures.push(`${request.label} → ${response.status} ${text.slice(0, 200)} [${request.path.slice(0, 80)} ${request.body?.slice(0, 120) ?? ''}]`);
            // Each refusal must also be one the OpenAPI document states (status, code, headers).
            await checkResponse(request.method, `${service.url}${request.path}`, response.status, response.headers, parseBody(text)).catch((error: Error) =>
              failures.push(`${request.label} → ${error.message.slice(0, 400)} [${request.body?.slice(0, 120) ?? ''}]`),
            );
          } catch (error) {
            failures.push(`${request.label} → no answer: ${(error as Error).message} [${request.path.slice(0, 80)}]`);
          } finally {
            inFlight.delete(request);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      sent += requests.length;
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const report = await probe.stop();
    process.stdout.write(
      `hostile-input: ${sent} requests on ${operations.length} routes in ${seconds} s; ${report.probes} probes: ` +
        `max stall ${report.maxBusyMs} ms (max wall ${report.maxMs} ms, garbage collection ${report.maxGcMs} ms)\n` +
        `  in flight during the longest stall:\n${report.worst.map((line) => `    ${line}`).join('\n')}\n`,
    );

    expect(failures).toEqual([]);
    // The verify API's doors were called as their callers: decisions made, malformed calls refused.
    expect([...(statuses.get('POST /v1/keys/verify') ?? [])]).toEqual(expect.arrayContaining([200, 400]));
    expect([...(statuses.get('GET /v1/keys/verify/auth-request') ?? [])]).toEqual(expect.arrayContaining([204, 400]));
    expect(report.maxBusyMs).toBeLessThan(PROBE_BUDGET_MS);
  }, SUITE_TIMEOUT_MS);
});
