import { type IncomingHttpHeaders, ServerResponse } from 'node:http';

/**
 * The request path reads and writes HTTP through these helpers, never through Express's or Fastify's own types,
 * so the guards, the interceptor and the filter work on `@nestjs/platform-express` and `@nestjs/platform-fastify`
 * alike. Both adapters' request objects carry `method`, `url`, `headers` and `ip`; Express's response is a Node
 * `ServerResponse`, Fastify's reply wraps one in `raw`. The helpers allocate nothing: they pick an existing object.
 */

/** What the library reads from a request on either adapter (a route's handler gets the adapter's own request). */
export interface HttpRequest {
  readonly method: string;
  /** The request target as received, query string included. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The client address as the adapter resolved it (its trust-proxy setting decides whether X-Forwarded-For counts). */
  readonly ip?: string;
  /** Parsed query string, route parameters and body (`@Metered` cost functions read them; shapes are the adapter's). */
  readonly query?: unknown;
  readonly params?: unknown;
  readonly body?: unknown;
}

/** The reply Fastify hands guards and filters: its chainable API, and the Node response underneath. */
interface FastifyReplyLike {
  raw: ServerResponse;
  code(status: number): { send(body: unknown): unknown };
}

/** Express's response: a `ServerResponse` with `status().json()`. */
interface ExpressResponseLike {
  status(status: number): { json(body: unknown): unknown };
}

function isFastifyReply(response: object): response is FastifyReplyLike {
  return typeof (response as Partial<FastifyReplyLike>).code === 'function' && typeof (response as Partial<FastifyReplyLike>).raw === 'object';
}

/**
 * Where headers for this response go: Express's response itself, or the `ServerResponse` under a Fastify reply
 * (Fastify merges headers set there into the ones it writes, and `reply.getHeader` sees them).
 */
export function headerSinkOf(response: object): Pick<ServerResponse, 'setHeader' | 'headersSent' | 'statusCode'> {
  // Express's response IS a ServerResponse: one prototype check, rather than looking up `code` and `raw` through
  // its whole prototype chain (a miss walks all of it) several times per request.
  if (response instanceof ServerResponse) return response;
  return isFastifyReply(response) ? response.raw : (response as ServerResponse);
}

/** The request's path without its query string (what tier globs and per-endpoint costs match). */
export function requestPath(request: object): string {
  // Express computes `path` (relative to where the app is mounted); Fastify only has the raw target.
  const path = (request as { path?: unknown }).path;
  if (typeof path === 'string') return path;
  const url = (request as HttpRequest).url;
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** One request header as a string (`name` in lower case), or undefined when absent. */
export function requestHeader(request: object, name: string): string | undefined {
  const value = (request as HttpRequest).headers[name];
  return typeof value === 'string' ? value : value?.join(', ');
}

/** Sends `body` as JSON with `status`, through whichever adapter's response this is. */
export function sendJson(response: object, status: number, body: unknown): void {
  if (isFastifyReply(response)) {
    response.code(status).send(body);
    return;
  }
  if (typeof (response as Partial<ExpressResponseLike>).status === 'function') {
    (response as ExpressResponseLike).status(status).json(body);
    return;
  }
  // A bare Node response (Fastify hands middleware errors over without its reply).
  const raw = response as ServerResponse;
  raw.statusCode = status;
  raw.setHeader('Content-Type', 'application/json; charset=utf-8');
  raw.end(JSON.stringify(body));
}
