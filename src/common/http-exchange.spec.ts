import type { AddressInfo } from 'node:net';
import { type ArgumentsHost, Logger } from '@nestjs/common';
import express from 'express';
import Fastify from 'fastify';
import { headerSinkOf, requestHeader, requestPath, sendJson } from './http-exchange.js';
import { TollgateExceptionFilter } from './tollgate-exception.filter.js';
import { RateLimitExceededException } from './tollgate.exceptions.js';

/** What a handler saw and sent, through the helpers only, on a real server of each adapter. */
interface Seen {
  path: string;
  idempotencyKey: string | undefined;
}

type Handle = (request: object, response: object) => void;

/** A real server of `adapter` (light-my-request's inject needs Node 22), on a random loopback port. */
async function serve(adapter: 'express' | 'fastify', path: string, handle: Handle): Promise<{ url: string; close(): Promise<unknown> }> {
  if (adapter === 'fastify') {
    const app = Fastify();
    app.get(path, (request, reply) => handle(request, reply));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  }
  const app = express();
  app.get(path, (request, response) => handle(request, response));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

/** Serves `handle` on GET /v1/things/:id and calls it once with `target`. */
async function exchange(adapter: 'express' | 'fastify', target: string, handle: Handle, headers: Record<string, string> = {}) {
  const server = await serve(adapter, '/v1/things/:id', handle);
  try {
    const response = await fetch(`${server.url}${target}`, { headers });
    return { status: response.status, headers: Object.fromEntries(response.headers), body: (await response.json()) as unknown };
  } finally {
    await server.close();
  }
}

describe.each(['express', 'fastify'] as const)('http exchange on %s', (adapter) => {
  it('reads the path without its query string and a header, sets headers and sends JSON with a status', async () => {
    let seen: Seen | undefined;
    const answer = await exchange(
      adapter,
      '/v1/things/7?next=/a/b&x=1',
      (request, response) => {
        seen = { path: requestPath(request), idempotencyKey: requestHeader(request, 'idempotency-key') };
        headerSinkOf(response).setHeader('X-RateLimit-Remaining', 0);
        headerSinkOf(response).setHeader('Retry-After', 12);
        sendJson(response, 429, { error: 'rate_limit_exceeded' });
      },
      { 'Idempotency-Key': 'order-42' },
    );
    expect(seen).toEqual({ path: '/v1/things/7', idempotencyKey: 'order-42' });
    expect(answer.status).toBe(429);
    expect(answer.body).toEqual({ error: 'rate_limit_exceeded' });
    expect(answer.headers['retry-after']).toBe('12');
    expect(answer.headers['x-ratelimit-remaining']).toBe('0');
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
  });

  it('answers an absent header as undefined', async () => {
    let header: string | undefined = 'unset';
    await exchange(adapter, '/v1/things/7', (request, response) => {
      header = requestHeader(request, 'idempotency-key');
      sendJson(response, 200, {});
    });
    expect(header).toBeUndefined();
  });

  it("lets TollgateExceptionFilter answer with the exception's status, body and headers, and not twice", async () => {
    Logger.overrideLogger(false);
    const filter = new TollgateExceptionFilter();
    const hostOf = (response: object) => ({ switchToHttp: () => ({ getResponse: () => response }) }) as unknown as ArgumentsHost;
    let sentAfterFirst = false;
    const answer = await exchange(adapter, '/v1/things/7', (_request, response) => {
      filter.catch(new RateLimitExceededException({ retryAfter: 30, limit: 10, windowSeconds: 60 }), hostOf(response));
      // What the filter checks before answering: already answered at once, so a later error is dropped.
      sentAfterFirst = headerSinkOf(response).headersSent;
      filter.catch(new Error('late'), hostOf(response));
    });
    expect(sentAfterFirst).toBe(true);
    Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']);
    expect(answer.status).toBe(429);
    expect(answer.body).toMatchObject({ error: 'rate_limit_exceeded', limit: 10, windowSeconds: 60, retryAfter: 30 });
    expect(answer.headers['retry-after']).toBe('30');
  });
});

describe('sendJson on a bare Node response (what Fastify hands middleware)', () => {
  it('writes status, JSON content type and body', async () => {
    const server = await serve('fastify', '/raw', (_request, reply) => {
      // Fastify must not answer again once the raw response has ended.
      (reply as { hijack(): void }).hijack();
      sendJson((reply as { raw: object }).raw, 503, { error: 'database_unavailable' });
    });
    try {
      const response = await fetch(`${server.url}/raw`);
      expect({ status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as unknown }).toEqual({
        status: 503,
        type: 'application/json; charset=utf-8',
        body: { error: 'database_unavailable' },
      });
    } finally {
      await server.close();
    }
  });
});
