import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { verifyWebhookSignature } from 'tollgate';
import { BILLING_DRIFT_DETECTED, type DriftDetectedEvent } from '../../src/billing/billing.events.js';
import { AdminClient } from '../support/admin.js';
import { Mailbox, readableMail } from '../support/mailbox.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { sleep, until } from '../support/wait.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';

interface Received {
  notificationId: string;
  attempt: number;
  signature: string;
  body: string;
}

/** A customer's webhook endpoint that fails the first `failures` calls per notification. */
class Receiver {
  readonly calls: Received[] = [];
  failures = 0;
  private readonly failed = new Map<string, number>();
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const notificationId = String(req.headers['tollgate-notification-id']);
        this.calls.push({ notificationId, attempt: Number(req.headers['tollgate-delivery-attempt']), signature: String(req.headers['tollgate-signature']), body });
        const failedSoFar = this.failed.get(notificationId) ?? 0;
        if (failedSoFar < this.failures) {
          this.failed.set(notificationId, failedSoFar + 1);
          res.writeHead(500).end('not now');
        } else res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}




const OPERATOR_EMAIL = 'billing-ops@tollgate.test';
const OPERATOR_SECRET = 'whsec_operator_alerts_0123456789';


describe('notifications', () => {
  let database: TestDatabase;
  let receiver: Receiver;
  let operatorReceiver: Receiver;
  let mailbox: Mailbox;
  let service: TestApp;
  let admin: AdminClient;
  const config = () =>
    testConfig(database, {
      smtpUrl: `smtp://127.0.0.1:${mailbox.port}`,
      notificationRetryBaseMs: 100,
      notificationPollMs: 40,
      notificationMaxAttempts: 6,
      operator: { email: OPERATOR_EMAIL, webhookUrl: operatorReceiver.url, webhookSecret: OPERATOR_SECRET },
    });

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = new Receiver();
    operatorReceiver = new Receiver();
    mailbox = new Mailbox();
    await Promise.all([receiver.start(), operatorReceiver.start(), mailbox.start()]);
    service = await startTestApp(database, { config: config() });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await Promise.all([receiver.stop(), operatorReceiver.stop(), mailbox.stop()]);
    await database.dispose();
  });

  async function customerWithWebhook(includedCalls = 100, tier = 'pro', email?: string) {
    const customer = await admin.createCustomer(tier, { overrides: { includedCalls }, webhookUrl: receiver.url, ...(email && { email }) });
    const { body } = await admin.request('POST', `/v1/customers/${customer.id}/webhook-secret`);
    return { id: customer.id as string, secret: body.secret as string };
  }

  const ingest = (customerId: string, quantity: number, key: string) =>
    admin.request('POST', '/v1/events', { events: [{ customerId, quantity, idempotencyKey: key }] });

  it('delivers one logical notification through three failures, signed, with one id on every attempt', async () => {
    receiver.failures = 3;
    const customer = await customerWithWebhook();
    await ingest(customer.id, 85, 'n1');
    const calls = await until(() => {
      const mine = receiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id);
      return mine.length >= 4 && mine;
    });
    receiver.failures = 0;
    expect(calls).toHaveLength(4);
    expect(new Set(calls.map((c) => c.notificationId)).size).toBe(1);
    expect(calls.map((c) => c.attempt)).toEqual([1, 2, 3, 4]);
    const last = calls[3];
    expect(verifyWebhookSignature(last.body, last.signature, customer.secret)).toBe(true);
    expect(verifyWebhookSignature(last.body, last.signature, 'whsec_wrong')).toBe(false);
    expect(verifyWebhookSignature(last.body.replace('85', '86'), last.signature, customer.secret)).toBe(false);
    const payload = JSON.parse(last.body);
    expect(payload).toMatchObject({ type: 'usage.threshold', message: 'You have used 80% of your included API calls.', data: { threshold: 80 } });
    // The receiver answered; the worker records the delivery right after.
    const listed = await until(async () => {
      const response = await admin.request('GET', `/v1/customers/${customer.id}/notifications`);
      return response.body.data[0]?.deliveries[0]?.status === 'delivered' && response;
    });
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0].deliveries).toEqual([expect.objectContaining({ channel: 'webhook', status: 'delivered', attempts: 4 })]);
    // Replay protection: an old timestamp does not verify.
    const oldHeader = last.signature.replace(/t=\d+/, `t=${Math.floor(Date.now() / 1000) - 3600}`);
    expect(verifyWebhookSignature(last.body, oldHeader, customer.secret)).toBe(false);
  });

  it('tells the operator, never the customer, about billing drift: once per disagreement, by email and signed webhook', async () => {
    const customer = await customerWithWebhook(1000, 'pro', 'dev@drift.test');
    const { secret: apiKey } = await admin.createKey(customer.id);
    const events = service.app.get(EventEmitter2);
    const drift: DriftDetectedEvent = {
      customerId: customer.id,
      meter: 'api_calls',
      periodStart: new Date('2026-11-01T00:00:00Z'),
      pushedTotal: 500,
      stripeTotal: 0,
      drift: 500,
    };
    await events.emitAsync(BILLING_DRIFT_DETECTED, drift);
    // The next reconciliation run finds the same disagreement (no new alert), then a different one (a new alert).
    await events.emitAsync(BILLING_DRIFT_DETECTED, drift);
    await events.emitAsync(BILLING_DRIFT_DETECTED, { ...drift, stripeTotal: 480, drift: 20 });

    const mine = () => operatorReceiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id);
    const calls = await until(() => mine().length >= 2 && mine());
    const mails = await until(() => {
      const found = mailbox.messages.filter((m) => m.to === OPERATOR_EMAIL && readableMail(m.raw).includes(customer.id));
      return found.length >= 2 && found;
    });
    await sleep(300);
    expect(mine()).toHaveLength(2);
    expect(mailbox.messages.filter((m) => m.to === OPERATOR_EMAIL && readableMail(m.raw).includes(customer.id))).toHaveLength(2);
    for (const received of calls) {
      expect(verifyWebhookSignature(received.body, received.signature, OPERATOR_SECRET)).toBe(true);
      expect(verifyWebhookSignature(received.body, received.signature, customer.secret)).toBe(false);
    }
    expect(calls.map((c) => JSON.parse(c.body).data.drift).sort((a: number, b: number) => a - b)).toEqual([20, 500]);
    expect(JSON.parse(calls[0].body).type).toBe('billing.drift_detected');
    expect(mails.map((m) => readableMail(m.raw)).join('\n')).toContain(
      `Tollgate pushed 500 API calls for customer ${customer.id} in the period starting 2026-11-01, but Stripe's meter shows 0 (drift +500).`,
    );

    // The customer hears nothing of it, and does not see it; the admin does.
    expect(receiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id)).toEqual([]);
    expect(mailbox.messages.filter((m) => m.to === 'dev@drift.test')).toEqual([]);
    expect((await call('GET', `${service.url}/v1/me/notifications`, { apiKey })).body.data).toEqual([]);
    const listed = (await admin.request('GET', `/v1/customers/${customer.id}/notifications`)).body.data;
    expect(listed.map((n: { audience: string; kind: string }) => [n.audience, n.kind])).toEqual([
      ['operator', 'billing.drift_detected'],
      ['operator', 'billing.drift_detected'],
    ]);
  });

  it('words overage and block notifications as the policy says', async () => {
    const overage = await customerWithWebhook(10);
    await ingest(overage.id, 11, 'o1');
    const blocked = await customerWithWebhook(10, 'free');
    await ingest(blocked.id, 10, 'b1');
    const messages = await until(async () => {
      const a = (await admin.request('GET', `/v1/customers/${overage.id}/notifications`)).body.data;
      const b = (await admin.request('GET', `/v1/customers/${blocked.id}/notifications`)).body.data;
      return a.length >= 2 && b.length >= 2 && { a, b };
    });
    expect(messages.a.map((n: { message: string }) => n.message)).toContain('You have exceeded your included 10 API calls. Overage billing is active.');
    const block = messages.b.find((n: { data: { threshold: number } }) => n.data.threshold === 100);
    expect(block.message).toMatch(/^You have used all 10 included API calls\. Requests are refused until the period resets on \d{4}-\d{2}-\d{2} or you upgrade: \/portal#upgrade$/);
  });

  it('sends one notification when 200 concurrent requests cross 80 % together', async () => {
    const customer = await customerWithWebhook(250);
    await ingest(customer.id, 150, 'pre');
    await Promise.all(Array.from({ length: 200 }, (_, i) => ingest(customer.id, 1, `c-${i}`)));
    await sleep(500);
    const rows = await database.query<{ kind: string; dedupe_key: string }>('SELECT kind, dedupe_key FROM notifications WHERE customer_id = $1', [customer.id]);
    const eighty = rows.filter((row) => row.dedupe_key.endsWith(':80'));
    expect(eighty).toHaveLength(1);
    await until(() => receiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id).length >= rows.length);
    await sleep(300);
    const received = receiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id);
    expect(new Set(received.map((c) => c.notificationId)).size).toBe(rows.length);
    expect(received).toHaveLength(rows.length);
  });

  it('emails a customer without a webhook URL, and only emails', async () => {
    const customer = await admin.createCustomer('pro', { overrides: { includedCalls: 10 }, email: 'ops@emailonly.test' });
    const callsBefore = receiver.calls.length;
    await ingest(customer.id, 9, 'e1');
    const mail = await until(() => mailbox.messages.find((m) => m.to === 'ops@emailonly.test'));
    expect(mail.raw).toContain('You have used 80% of your included API calls.');
    expect(mail.raw).toMatch(/Message-ID: <ntf_[0-9A-Za-z]+@tollgate>/i);
    await sleep(200);
    expect(receiver.calls.slice(callsBefore).filter((c) => JSON.parse(c.body).customerId === customer.id)).toHaveLength(0);
  });

  it('dead-letters after the maximum attempts, and redelivers on request', async () => {
    receiver.failures = 100;
    const customer = await customerWithWebhook();
    await ingest(customer.id, 80, 'd1');
    const dead = await until(async () => {
      const [n] = (await admin.request('GET', `/v1/customers/${customer.id}/notifications`)).body.data;
      return n?.deliveries[0]?.status === 'dead' && n;
    }, 20_000);
    expect(dead.deliveries[0].attempts).toBe(6);
    receiver.failures = 0;
    const again = await admin.request('POST', `/v1/customers/${customer.id}/notifications/${dead.id}/redeliver`);
    expect(again.status).toBe(200);
    await until(async () => {
      const [n] = (await admin.request('GET', `/v1/customers/${customer.id}/notifications`)).body.data;
      return n.deliveries[0].status === 'delivered';
    });
    const ids = receiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id).map((c) => c.notificationId);
    expect(new Set(ids)).toEqual(new Set([dead.id]));
  }, 30_000);

  it('survives a restart between retries and sends nothing twice afterwards', async () => {
    receiver.failures = 1;
    const customer = await customerWithWebhook();
    await ingest(customer.id, 90, 'r1');
    await until(() => receiver.calls.some((c) => JSON.parse(c.body).customerId === customer.id));
    // The first attempt failed; stop before the retry, then start a new instance on the same database.
    await service.close();
    const countAtStop = receiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id).length;
    expect(countAtStop).toBe(1);
    service = await startTestApp(database, { config: config() });
    admin = new AdminClient(service.url);
    await until(async () => {
      const [n] = (await admin.request('GET', `/v1/customers/${customer.id}/notifications`)).body.data;
      return n.deliveries[0].status === 'delivered';
    });
    // One more restart: nothing is delivered again.
    await service.close();
    service = await startTestApp(database, { config: config() });
    admin = new AdminClient(service.url);
    await sleep(600);
    const mine = receiver.calls.filter((c) => JSON.parse(c.body).customerId === customer.id);
    expect(mine).toHaveLength(2);
    expect(new Set(mine.map((c) => c.notificationId)).size).toBe(1);
  });

  it('tells customers about key revocation and tier changes; key holders see their own', async () => {
    receiver.failures = 0;
    const customer = await customerWithWebhook(1000, 'free');
    const { secret, key } = await admin.createKey(customer.id);
    await admin.request('PATCH', `/v1/customers/${customer.id}`, { tier: 'pro' });
    const { secret: other } = await admin.createKey(customer.id);
    await admin.request('DELETE', `/v1/customers/${customer.id}/keys/${key.id}`);
    const kinds = await until(async () => {
      const data = (await call('GET', `${service.url}/v1/me/notifications`, { apiKey: other })).body.data;
      return data?.length >= 2 && data.map((n: { kind: string }) => n.kind);
    });
    expect(kinds.sort()).toEqual(['api_key.revoked', 'tier.changed']);
    expect(secret).not.toBe(other);
  });
});
