import { connect, type Socket } from 'node:net';
import Stripe from 'stripe';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, type CallResult, checkedFetch } from '../support/http.js';
import { startStallProbe } from '../support/stall-probe.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';

const WEBHOOK_SECRET = 'whsec_request_limits_0123456789';
const PROBE_BUDGET_MS = 200;
// Lower than the defaults (20 s / 30 s) so the test does not wait for them; the mechanism is the same.
const HEADERS_TIMEOUT_MS = 1500;
const REQUEST_TIMEOUT_MS = 5000;

/** The cases measured in issue 12: each used to answer 500, or to freeze every other request for seconds. */
describe('request limits and hostile input', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  let customer: { id: string };
  let key: { secret: string; key: { id: string } };

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, {
      config: testConfig(database, {
        httpHeadersTimeoutMs: HEADERS_TIMEOUT_MS,
        httpRequestTimeoutMs: REQUEST_TIMEOUT_MS,
        stripe: { secretKey: null, apiUrl: null, webhookSecret: WEBHOOK_SECRET },
      }),
    });
    admin = new AdminClient(service.url);
    customer = await admin.createCustomer('pro');
    key = await admin.createKey(customer.id, { name: 'first', scopes: ['ingest'] });
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    call('POST', `${service.url}${path}`, { body, headers: { 'content-type': 'application/json', ...headers } });

  /** Sends a request while probing /health/live; answers the response and the probe's longest stall. */
  async function whileProbing(send: () => Promise<CallResult>): Promise<{ response: CallResult; stallMs: number }> {
    const probe = startStallProbe(`${service.url}/health/live`);
    const response = await send();
    const report = await probe.stop();
    return { response, stallMs: report.maxBusyMs };
  }

  describe('JSON bodies are measured before they are parsed', () => {
    const millionNestedArrays = '['.repeat(1_000_000) + ']'.repeat(1_000_000);

    it('refuses a million nested arrays (2 MB) on the unauthenticated portal sign-in at once, without stalling others', async () => {
      const { response, stallMs } = await whileProbing(() => post('/portal/api/login', millionNestedArrays));
      expect(response.status).toBe(413);
      expect(response.body).toEqual({ error: 'payload_too_large', message: 'request entity too large' });
      expect(stallMs).toBeLessThan(PROBE_BUDGET_MS);
    });

    it('refuses them on the bulk ingest route too, where 2 MB is allowed: too deep', async () => {
      const { response, stallMs } = await whileProbing(() => post('/v1/events', millionNestedArrays, { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }));
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ error: 'payload_too_deep', message: 'The JSON body nests deeper than 32 levels.' });
      expect(stallMs).toBeLessThan(PROBE_BUDGET_MS);
    });

    it('refuses depth and width over the limits within the size limit, and takes them at the limits', async () => {
      const deep = (levels: number) => `{"apiKey":"x","junk":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
      expect((await post('/portal/api/login', deep(33))).body.error).toBe('payload_too_deep');
      // At the limit the body is parsed and validated as usual: the unknown field is what is wrong.
      expect((await post('/portal/api/login', deep(32))).body.error).toBe('validation_failed');
      const wide = (entries: number) => JSON.stringify({ apiKey: 'x', junk: Array.from({ length: entries }, () => 0) });
      expect((await post('/portal/api/login', wide(1001))).body).toEqual({ error: 'payload_too_wide', message: 'A JSON array or object in the body has more than 1000 entries.' });
      expect((await post('/portal/api/login', wide(1000))).body.error).toBe('validation_failed');
      expect((await post('/portal/api/login', '['.repeat(40_000) + ']'.repeat(40_000))).body.error).toBe('payload_too_deep');
    });

    it('gives the ingest route its bigger size limit, and others the small one', async () => {
      const events = Array.from({ length: 1000 }, (_, i) => ({ customerId: customer.id, idempotencyKey: `big-${i}`, properties: { note: 'x'.repeat(120) } }));
      const bulk = await post('/v1/events', JSON.stringify({ events }), { authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
      expect(bulk.status).toBe(200);
      expect(bulk.body.accepted).toBe(1000);
      const big = await post('/v1/customers', JSON.stringify({ name: 'x'.repeat(150_000), tier: 'pro' }), { authorization: `Bearer ${TEST_ADMIN_TOKEN}` });
      expect(big.status).toBe(413);
    });

    it('keeps JSON bodies UTF-8 only', async () => {
      // A byte-wise scan could be fooled by UTF-16 (a code unit like U+225B holds the bytes of `"[`).
      const response = await checkedFetch(`${service.url}/v1/customers`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json; charset=utf-16le' },
        body: Buffer.from(JSON.stringify({ name: 'x', tier: 'pro' }), 'utf16le'),
      });
      expect(response.status).toBe(415);
      expect(await response.json()).toEqual({ error: 'unsupported_media_type', message: 'JSON bodies must be UTF-8.' });
    });
  });

  describe('strings Postgres cannot store are refused with the field named', () => {
    const asAdmin = (method: string, path: string, body?: unknown) => admin.request(method, path, body);
    const field = (response: CallResult) => [response.status, response.body.error, response.body.details?.[0]?.field, response.body.details?.[0]?.problems?.[0]];

    it.each([
      ['customer name', 'POST', '/v1/customers', { name: 'a\u0000b', tier: 'pro' }, 'name'],
      ['customer external id', 'POST', '/v1/customers', { name: 'a', tier: 'pro', externalId: '\u0000' }, 'externalId'],
      ['nested override', 'POST', '/v1/customers', { name: 'a', tier: 'enterprise', overrides: { rateLimit: ['1/s', '\u0000'] } }, 'overrides.rateLimit.1'],
      ['unpaired surrogate', 'POST', '/v1/customers', { name: 'x\ud800', tier: 'pro' }, 'name'],
    ])('in a body: %s', async (_case, method, path, body, name) => {
      const response = await asAdmin(method, path, body);
      expect(field(response)).toEqual([400, 'validation_failed', name, expect.stringMatching(/NUL|Unicode/)]);
    });

    it('in a body on routes with path ids: key name, rename, customer rename', async () => {
      expect(field(await asAdmin('POST', `/v1/customers/${customer.id}/keys`, { name: 'k\u0000' }))).toEqual([400, 'validation_failed', 'name', 'must not contain NUL characters']);
      expect(field(await asAdmin('PATCH', `/v1/customers/${customer.id}/keys/${key.key.id}`, { name: 'k\u0000' }))).toEqual([400, 'validation_failed', 'name', 'must not contain NUL characters']);
      expect(field(await asAdmin('PATCH', `/v1/customers/${customer.id}`, { name: 'a\u0000' }))).toEqual([400, 'validation_failed', 'name', 'must not contain NUL characters']);
      const me = await call('POST', `${service.url}/v1/me/keys`, { apiKey: key.secret, body: { name: '\u0000' } });
      expect(field(me)).toEqual([400, 'validation_failed', 'name', 'must not contain NUL characters']);
    });

    it.each([
      ['customer id', '/v1/customers/cus_%00', 'customerId'],
      ['customer id of keys', '/v1/customers/cus_%00/keys', 'customerId'],
      ['key id', `/v1/customers/{customer}/keys/key_%00`, 'keyId'],
      ['customer id of usage', '/v1/customers/cus_%00/usage', 'customerId'],
      ['?tier=', '/v1/customers?tier=%00', 'tier'],
      ['?cursor=', '/v1/customers?cursor=a%00', 'cursor'],
      ['?status=', '/v1/customers?status=%00', 'status'],
      ['?period=', '/v1/customers/{customer}/usage?period=%00', 'period'],
      ['?period= of reconciliation', '/v1/billing/reconciliation?period=%00', 'period'],
    ])('in a path or query: %s', async (_case, path, name) => {
      const response = await asAdmin('GET', path.replace('{customer}', customer.id));
      expect(field(response)).toEqual([400, 'validation_failed', name, 'must not contain NUL characters']);
    });

    it('checks ?period= on the reconciliation even when there is nothing to reconcile', async () => {
      expect(field(await asAdmin('GET', '/v1/billing/reconciliation?period=2027-13'))).toEqual([400, 'validation_failed', 'period', 'must be "current" or YYYY-MM']);
    });

    it('rejects only the event with the NUL in a batch; the others go in', async () => {
      const now = new Date().toISOString();
      const response = await asAdmin('POST', '/v1/events', {
        events: [
          { customerId: customer.id, idempotencyKey: 'nul-ok-1', timestamp: now },
          { customerId: customer.id, idempotencyKey: 'nul-props', timestamp: now, properties: { note: 'a\u0000b' } },
          { customerId: 'cus_\u0000', idempotencyKey: 'nul-customer', timestamp: now },
          { customerId: customer.id, idempotencyKey: 'nul-meter', meter: 'api\u0000' },
          { customerId: customer.id, idempotencyKey: 'nul-key', properties: { 'k\u0000': 1 } },
          { customerId: customer.id, idempotencyKey: 'long-customer', meter: 'm'.repeat(300) },
          { customerId: customer.id, idempotencyKey: 'nul-ok-2', timestamp: now },
        ],
      });
      expect(response.status).toBe(200);
      expect(response.body.results.map((result: { status: string; reason?: string }) => result.reason ?? result.status)).toEqual([
        'accepted',
        'properties.note must not contain NUL characters',
        'customerId must not contain NUL characters',
        'meter must not contain NUL characters',
        'properties property names must not contain NUL characters',
        'meter must be at most 255 characters',
        'accepted',
      ]);
    });
  });

  describe('dates and nulls', () => {
    it.each(['20000-01-01T00:00:00Z', '+020000-01-01T00:00:00Z', '2027-02-30T00:00:00Z', '2027-01-01', 1798761600000])('refuses expiresAt %j naming it', async (expiresAt) => {
      const response = await admin.request('POST', `/v1/customers/${customer.id}/keys`, { name: 'dated', expiresAt });
      expect(response.status).toBe(400);
      expect(response.body.details).toEqual([{ field: 'expiresAt', problems: ['expiresAt must be an ISO-8601 date-time like 2027-01-01T00:00:00Z (years 1970-9999)'] }]);
    });

    it('takes a sane expiresAt', async () => {
      const response = await admin.request('POST', `/v1/customers/${customer.id}/keys`, { name: 'dated', expiresAt: '2099-12-31T23:59:59+01:00' });
      expect(response.status).toBe(201);
      expect(response.body.key.expiresAt).toBe('2099-12-31T22:59:59.000Z');
    });

    it.each(['name', 'tier', 'status', 'overrides'])('refuses {"%s":null} on PATCH naming it', async (name) => {
      const response = await admin.request('PATCH', `/v1/customers/${customer.id}`, { [name]: null });
      expect(response.status).toBe(400);
      expect(response.body.details.map((detail: { field: string }) => detail.field)).toEqual([name]);
    });

    it('lets null remove the email and the webhook URL', async () => {
      await admin.request('PATCH', `/v1/customers/${customer.id}`, { email: 'dev@example.com', webhookUrl: 'https://hooks.example.com/x' });
      const response = await admin.request('PATCH', `/v1/customers/${customer.id}`, { email: null, webhookUrl: null });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ email: null, webhookUrl: null, name: 'pro customer' });
    });
  });

  describe('Stripe webhooks', () => {
    const stripe = new Stripe('sk_test_request_limits');
    const signed = (payload: unknown) => {
      const body = JSON.stringify(payload);
      return post('/v1/stripe/webhooks', body, { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body, secret: WEBHOOK_SECRET }) });
    };

    it('still verifies the signature on the raw body', async () => {
      const event = { id: 'evt_limits_1', object: 'event', type: 'invoice.paid', created: Math.floor(Date.now() / 1000), data: { object: { object: 'invoice', customer: 'cus_stripe_unknown' } } };
      expect((await signed(event)).body).toEqual({ received: true });
      // The same bytes, re-serialized with other whitespace, no longer match the signature.
      const body = JSON.stringify(event);
      const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: WEBHOOK_SECRET });
      const reformatted = await post('/v1/stripe/webhooks', JSON.stringify(event, null, 2), { 'stripe-signature': header });
      expect(reformatted.body.error).toBe('invalid_signature');
    });

    it.each([
      ['no data.object', { id: 'evt_x', type: 'invoice.paid', created: 1, data: [] }],
      ['an unreadable created', { id: 'evt_x', type: 'invoice.paid', created: '1e400', data: { object: {} } }],
      ['an id that is not one', { id: 'evt_\u0000', type: 'invoice.paid', created: 1, data: { object: {} } }],
    ])('answers a signed event with %s with 400 invalid_event', async (_case, payload) => {
      const response = await signed(payload);
      expect(response.status).toBe(400);
      expect(response.body.error).toBe('invalid_event');
    });
  });

  describe('HTTP timeouts', () => {
    /** Opens a raw connection, sends `text`, and resolves with what came back and when the server closed it. */
    function hold(text: string): Promise<{ answer: string; closedAfterMs: number }> {
      return new Promise((resolve, reject) => {
        const started = Date.now();
        let answer = '';
        const socket: Socket = connect(Number(new URL(service.url).port), '127.0.0.1', () => socket.write(text));
        socket.on('data', (chunk) => (answer += chunk.toString()));
        socket.on('error', reject);
        socket.on('close', () => resolve({ answer, closedAfterMs: Date.now() - started }));
      });
    }

    it('answers 408 and disconnects a client that never finishes its headers', async () => {
      const { answer, closedAfterMs } = await hold('GET /health/live HTTP/1.1\r\nHost: x\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      // headersTimeout, checked every second: Node's defaults would have held it 60 s and checked every 30 s.
      expect(closedAfterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
      expect(closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 3000);
    });

    it('answers 408 and disconnects a client that never finishes its body', async () => {
      const { answer, closedAfterMs } = await hold(`POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name":`);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
      expect(closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 3000);
    });

    it('keeps idle keep-alive connections longer than a load balancer does (65 s by default)', () => {
      const server = service.app.getHttpServer();
      expect([server.headersTimeout, server.requestTimeout, server.keepAliveTimeout]).toEqual([HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS, 65_000]);
    });
  });
});
