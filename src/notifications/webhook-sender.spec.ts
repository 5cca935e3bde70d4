import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeliveryFailure, type HostResolver, REFUSED_NOT_PUBLIC, WebhookSender } from './webhook-sender.js';

/** A loopback HTTP server that records what reaches it. */
async function receiver(answer: (request: IncomingMessage, response: ServerResponse) => void = (_request, response) => response.writeHead(204).end()) {
  const seen: Array<{ host: string | undefined; path: string | undefined; body: string }> = [];
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      seen.push({ host: request.headers.host, path: request.url, body });
      answer(request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { seen, port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A resolver that knows a few names (nothing here reaches real DNS) and counts its calls. */
function resolverOf(names: Record<string, string[]>) {
  const calls: string[] = [];
  const resolve: HostResolver = async (hostname) => {
    calls.push(hostname);
    const addresses = names[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, calls };
}

async function failureOf(promise: Promise<unknown>): Promise<DeliveryFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DeliveryFailure) return error;
    throw error;
  }
  throw new Error('the delivery did not fail');
}

const HEADERS = { 'content-type': 'application/json' };

describe('WebhookSender', () => {
  let server: Awaited<ReturnType<typeof receiver>>;

  beforeEach(async () => {
    server = await receiver();
  });

  afterEach(() => server.close());

  it('refuses a customer URL whose name resolves to loopback, and never connects', async () => {
    const dns = resolverOf({ 'evil.test': ['127.0.0.1'], 'mixed.test': ['93.184.215.14', '127.0.0.1'], 'v6.test': ['::1'], 'mapped.test': ['::ffff:7f00:1'] });
    const sender = new WebhookSender(dns.resolve);
    for (const name of ['evil.test', 'mixed.test', 'v6.test', 'mapped.test']) {
      const failure = await failureOf(sender.send(`http://${name}:${server.port}/hook`, 'customer', HEADERS, '{}'));
      expect([name, failure.reason]).toEqual([name, REFUSED_NOT_PUBLIC]);
      expect(failure.message).toMatch(/resolves to .*(loopback)/);
    }
    expect(server.seen).toEqual([]);
  });

  it('refuses customer URLs naming a non-public address, without asking the resolver', async () => {
    const dns = resolverOf({});
    const sender = new WebhookSender(dns.resolve);
    for (const url of [`http://127.0.0.1:${server.port}/`, `http://[::ffff:127.0.0.1]:${server.port}/`, `http://2130706433:${server.port}/`, `http://localhost:${server.port}/`, `http://localhost..:${server.port}/`]) {
      const failure = await failureOf(sender.send(url, 'customer', HEADERS, '{}'));
      expect(failure.reason).toMatch(/^destination refused: /);
    }
    expect(dns.calls).toEqual([]);
    expect(server.seen).toEqual([]);
  });

  it('connects to exactly the address it checked: one resolution, the Host header names the URL', async () => {
    // Only 127.0.0.1 is allowed here, so the request can reach the loopback receiver at all.
    const dns = resolverOf({ 'hooks.customer.test': ['127.0.0.1'] });
    const sender = new WebhookSender(dns.resolve, (address) => (address === '127.0.0.1' ? null : 'not allowed in this test'));
    await sender.send(`http://hooks.customer.test:${server.port}/in?x=1`, 'customer', HEADERS, '{"ok":true}');
    expect(server.seen).toEqual([{ host: `hooks.customer.test:${server.port}`, path: '/in?x=1', body: '{"ok":true}' }]);
    // "hooks.customer.test" means nothing to the system resolver: the socket went to the pinned address.
    expect(dns.calls).toEqual(['hooks.customer.test']);
  });

  it('lets operator URLs reach internal hosts, by address or by name', async () => {
    const dns = resolverOf({ 'alerts.ops.test': ['127.0.0.1'] });
    const sender = new WebhookSender(dns.resolve);
    await sender.send(`http://127.0.0.1:${server.port}/ops`, 'operator', HEADERS, '{}');
    await sender.send(`http://alerts.ops.test:${server.port}/ops`, 'operator', HEADERS, '{}');
    expect(server.seen.map((request) => request.host)).toEqual([`127.0.0.1:${server.port}`, `alerts.ops.test:${server.port}`]);
  });

  it('never follows a redirect', async () => {
    const target = await receiver();
    const redirector = await receiver((_request, response) => response.writeHead(302, { location: `http://127.0.0.1:${target.port}/landed` }).end());
    try {
      const failure = await failureOf(new WebhookSender(resolverOf({}).resolve).send(`http://127.0.0.1:${redirector.port}/`, 'operator', HEADERS, '{}'));
      expect(failure.reason).toBe('HTTP 302 (redirects are not followed)');
      expect(redirector.seen).toHaveLength(1);
      expect(target.seen).toEqual([]);
    } finally {
      await Promise.all([target.close(), redirector.close()]);
    }
  });

  it('reports generic reasons, with the detail for the operator', async () => {
    const failing = await receiver((_request, response) => response.writeHead(500).end('stack trace of the receiver'));
    const sender = new WebhookSender(resolverOf({}).resolve);
    try {
      expect((await failureOf(sender.send(`http://127.0.0.1:${failing.port}/`, 'operator', HEADERS, '{}'))).reason).toBe('HTTP 500');
      await server.close();
      const refused = await failureOf(sender.send(`http://127.0.0.1:${server.port}/`, 'operator', HEADERS, '{}'));
      expect(refused.reason).toBe('connection failed');
      expect(refused.message).toContain('ECONNREFUSED');
      const unknown = await failureOf(sender.send('https://nowhere.test/hook', 'customer', HEADERS, '{}'));
      expect(unknown.reason).toBe('DNS lookup failed');
      expect(unknown.message).toContain('ENOTFOUND');
    } finally {
      server = await receiver();
      await failing.close();
    }
  });

  it('hangs up on a receiver that streams an endless answer', async () => {
    let written = 0;
    let closed!: () => void;
    const hungUp = new Promise<void>((resolve) => (closed = resolve));
    const chatty = await receiver((_request, response) => {
      response.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = () => {
        while (!response.destroyed) {
          written += chunk.length;
          if (!response.write(chunk)) break;
        }
      };
      response.on('drain', pump);
      response.on('close', () => closed());
      response.on('error', () => undefined);
      pump();
    });
    try {
      const started = Date.now();
      await new WebhookSender(resolverOf({}).resolve).send(`http://127.0.0.1:${chatty.port}/`, 'operator', HEADERS, '{}');
      await hungUp;
      // After 64 KiB, not at the attempt's 10 s deadline (which is what would end it without the cap).
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(written).toBeGreaterThan(64 * 1024);
    } finally {
      await chatty.close();
    }
  });
});
