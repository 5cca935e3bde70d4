import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HostResolver, WEBHOOK_HOST_RESOLVER } from '../../src/notifications/webhook-sender.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { PortalClient } from '../support/portal.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { until } from '../support/wait.js';

/** Names a customer could point at the operator's network with a DNS record of its own. */
const CUSTOMER_DNS: Record<string, string[]> = {
  'evil.test': ['127.0.0.1'],
  'mixed.test': ['93.184.215.14', '127.0.0.1'],
  'metadata.evil.test': ['169.254.169.254'],
  'v6.evil.test': ['::1'],
};

const resolver: HostResolver = async (hostname) => {
  const addresses = CUSTOMER_DNS[hostname.replace(/\.$/, '')];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

/** The operator's internal service: every request that reaches it is recorded (IPv4 and IPv6 loopback). */
class InternalService {
  readonly requests: string[] = [];
  port = 0;
  private server!: Server;

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      this.requests.push(`${request.headers.host} ${request.url}`);
      request.resume();
      if (request.url === '/redirect') response.writeHead(302, { location: `http://127.0.0.1:${this.port}/landed` }).end();
      else response.writeHead(204).end();
    });
    await new Promise<void>((resolve) => this.server.listen(0, '::', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('webhook destinations (SSRF)', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  const internal = new InternalService();

  beforeAll(async () => {
    database = await createTestDatabase();
    await internal.start();
    service = await startTestApp(database, {
      config: testConfig(database, { notificationPollMs: 40 }),
      overrides: [[WEBHOOK_HOST_RESOLVER, resolver]],
    });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await internal.stop();
    await database.dispose();
  });

  async function customerInPortal() {
    const customer = await admin.customerWithKey('pro');
    return { ...customer, portal: await PortalClient.withKey(service.url, customer.secret) };
  }

  /** Makes one notification (a key revocation) and waits for its first webhook attempt to finish. */
  async function notifyAndWait(customerId: string): Promise<{ customerView: Record<string, unknown>; adminView: Record<string, unknown> }> {
    type Listed = { id: string; deliveries: Array<{ channel: string; status: string; lastError: string | null }> };
    const listed = async () => (await admin.request('GET', `/v1/customers/${customerId}/notifications`)).body.data as Listed[];
    const earlier = new Set((await listed()).map((notification) => notification.id));
    const spare = await admin.createKey(customerId, { name: 'spare' });
    await admin.request('DELETE', `/v1/customers/${customerId}/keys/${spare.key.id}`);
    const [id, adminView] = await until(async () => {
      const notification = (await listed()).find((candidate) => !earlier.has(candidate.id));
      const webhook = notification?.deliveries.find((delivery) => delivery.channel === 'webhook');
      return webhook && (webhook.status === 'delivered' || webhook.lastError) ? ([notification!.id, webhook] as const) : undefined;
    });
    const reader = (await admin.createKey(customerId, { name: 'reader' })).secret;
    const mine = ((await call('GET', `${service.url}/v1/me/notifications`, { apiKey: reader })).body.data as Listed[]).find((notification) => notification.id === id)!;
    return { customerView: mine.deliveries.find((delivery) => delivery.channel === 'webhook')!, adminView };
  }

  it('refuses, in the portal, every spelling of an internal address', async () => {
    const { portal } = await customerInPortal();
    const forms = [
      'http://127.0.0.1:P/h',
      'http://localhost:P/h',
      'http://localhost.:P/h',
      'http://localhost..:P/h',
      'http://[::1]:P/h',
      'http://[::ffff:127.0.0.1]:P/h',
      'http://[::ffff:0:127.0.0.1]:P/h',
      'http://[::127.0.0.1]:P/h',
      'http://[64:ff9b::7f00:1]:P/h',
      'http://[2002:7f00:1::]:P/h',
      'http://2130706433:P/h',
      'http://0x7f.1:P/h',
      'http://017700000001:P/h',
      'http://0.0.0.0:P/h',
      'http://[::]:P/h',
      'http://169.254.169.254/latest/meta-data',
      'http://metadata.google.internal/computeMetadata/v1',
    ];
    const refused = [];
    for (const form of forms) {
      const response = await portal.request('PUT', '/webhook', { url: form.replace('P', String(internal.port)) });
      refused.push([form, response.status, response.body.error]);
    }
    expect(refused).toEqual(forms.map((form) => [form, 400, 'validation_failed']));
    expect((await portal.request('PUT', '/webhook', { url: 'https://hooks.example.com/tollgate' })).status).toBe(200);
  });

  it('never connects to a customer URL whose name resolves to an internal address; the customer sees a generic reason', async () => {
    for (const name of ['evil.test', 'evil.test.', 'mixed.test', 'metadata.evil.test', 'v6.evil.test']) {
      const customer = await customerInPortal();
      const url = `http://${name}:${internal.port}/hook`;
      // The text looks public: the portal accepts it, and records it as the customer's.
      expect((await customer.portal.request('PUT', '/webhook', { url })).status).toBe(200);
      expect((await admin.request('GET', `/v1/customers/${customer.customerId}`)).body).toMatchObject({ webhookUrl: url, webhookUrlSetBy: 'customer' });

      const { customerView, adminView } = await notifyAndWait(customer.customerId);
      expect([name, customerView.lastError, customerView.status]).toEqual([name, 'destination refused: not a public address', 'pending']);
      expect(customerView).not.toHaveProperty('lastErrorDetail');
      expect(adminView.lastErrorDetail).toMatch(new RegExp(`resolves to .*${CUSTOMER_DNS[name.replace(/\.$/, '')].at(-1)!.replace(/[.:]/g, '\\$&')}`));
    }
    expect(internal.requests).toEqual([]);
    expect(service.logs.text).toContain('refused: evil.test resolves to 127.0.0.1 (loopback (127.0.0.0/8))');
  });

  it('judges at delivery a customer URL stored before the check (or written around it)', async () => {
    const customer = await admin.customerWithKey('pro');
    await database.query(`UPDATE customers SET webhook_url = $1, webhook_url_set_by = 'customer' WHERE id = $2`, [
      `http://[::ffff:0:127.0.0.1]:${internal.port}/legacy`,
      customer.customerId,
    ]);
    const { customerView } = await notifyAndWait(customer.customerId);
    expect(customerView.lastError).toBe('destination refused: not a public address');
    expect(internal.requests).toEqual([]);
  });

  it('delivers to an internal URL the operator set; the customer changing it makes it the customer URL', async () => {
    const customer = await customerInPortal();
    const updated = await admin.request('PATCH', `/v1/customers/${customer.customerId}`, { webhookUrl: `http://127.0.0.1:${internal.port}/operator-set` });
    expect(updated.body.webhookUrlSetBy).toBe('operator');
    const { customerView } = await notifyAndWait(customer.customerId);
    expect(customerView).toMatchObject({ status: 'delivered', lastError: null });
    expect(internal.requests).toEqual([`127.0.0.1:${internal.port} /operator-set`]);

    expect((await customer.portal.request('PUT', '/webhook', { url: `http://evil.test:${internal.port}/now-mine` })).status).toBe(200);
    expect((await admin.request('GET', `/v1/customers/${customer.customerId}`)).body.webhookUrlSetBy).toBe('customer');
    expect((await notifyAndWait(customer.customerId)).customerView.lastError).toBe('destination refused: not a public address');
    expect(internal.requests).toHaveLength(1);
    internal.requests.length = 0;
  });

  it('does not follow a redirect, even from an operator URL', async () => {
    const customer = await admin.customerWithKey('pro');
    await admin.request('PATCH', `/v1/customers/${customer.customerId}`, { webhookUrl: `http://127.0.0.1:${internal.port}/redirect` });
    const { customerView } = await notifyAndWait(customer.customerId);
    expect(customerView.lastError).toBe('HTTP 302 (redirects are not followed)');
    expect(internal.requests).toEqual([`127.0.0.1:${internal.port} /redirect`]);
    internal.requests.length = 0;
  });
});
