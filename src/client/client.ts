// `tollgate/client`: a typed client of the service's HTTP API on the global fetch (Node ≥ 20, browsers, Deno, Bun).
// No run-time import but its own files: a plain Node or TypeScript service can use it without Nest.
import { retryAfterMs, TollgateApiError } from './client.errors.js';
import type {
  ApiKey,
  CallOptions,
  CreateCustomerBody,
  CreateKeyBody,
  Customer,
  CustomerPage,
  DataOf,
  HttpMethod,
  IngestResult,
  IssuedKey,
  KeyPage,
  ListCustomersQuery,
  ListKeysQuery,
  Operation,
  PathsWith,
  RequestOptions,
  RotateKeyBody,
  TollgateResponse,
  UpdateCustomerBody,
  UsageEvent,
  UsageQuery,
  UsageReport,
  VerifyDecision,
  VerifyRequest,
} from './client.types.js';

export interface RetryOptions {
  /** Retries after the first attempt (default 2; 0: none). */
  max?: number;
  /**
   * The longest wait before a retry (default 10 000 ms). When `Retry-After` asks for longer, the client does not
   * retry early (it would be refused again): it throws the answer at once, `retryAfter` on the error.
   */
  maxDelayMs?: number;
  /** The first wait when the server names none (a network error, a 503 without Retry-After): default 250 ms, doubling. */
  baseDelayMs?: number;
}

/** What `onRetry` is told before each wait. */
export interface RetryEvent {
  method: string;
  url: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the client waits before the next one. */
  delayMs: number;
  /** The refusal (429, 503), or the network error / timeout the attempt ended with. */
  error: unknown;
}

export interface TollgateClientOptions {
  /** Where the service is, e.g. `http://localhost:3000`. */
  baseUrl: string;
  /** The admin token (ADMIN_TOKEN), sent as `Authorization: Bearer`: the admin API, ingest and verify. */
  adminToken?: string;
  /** An API key, sent as `x-api-key`: `/v1/me…`, ingest (`ingest` scope) and verify (`verify` scope). */
  apiKey?: string;
  /** Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** Retries of 429 and 503 answers and network errors, for requests safe to repeat. `false`: none. */
  retries?: RetryOptions | false;
  /** Per attempt (default 30 000 ms); a timeout is retried like a network error. */
  timeoutMs?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Called before each wait for a retry (logging, metrics). */
  onRetry?: (event: RetryEvent) => void;
}

/** `[init]` when the operation needs parameters or a body, `[init?]` when it needs neither. */
type InitArgs<I> = Record<never, never> extends I ? [init?: I] : [init: I];

export interface TollgateClient {
  /**
   * Any documented operation, typed by the OpenAPI document: `request('GET', '/v1/customers/{customerId}',
   * { params: { path: { customerId } } })`. Resolves with the success body, status and headers; a non-2xx
   * rejects with a TollgateApiError.
   */
  request<M extends HttpMethod, P extends PathsWith<M>>(method: M, path: P, ...init: InitArgs<RequestOptions<Operation<M, P>>>): Promise<TollgateResponse<DataOf<Operation<M, P>>>>;
  customers: {
    create(body: CreateCustomerBody, options?: CallOptions): Promise<Customer>;
    get(customerId: string, options?: CallOptions): Promise<Customer>;
    list(query?: ListCustomersQuery, options?: CallOptions): Promise<CustomerPage>;
    /** Tier, overrides, status, name, email…: a PATCH that sets values, so it is retried. */
    update(customerId: string, body: UpdateCustomerBody, options?: CallOptions): Promise<Customer>;
  };
  keys: {
    /** The answer's `secret` is shown once. */
    create(customerId: string, body?: CreateKeyBody, options?: CallOptions): Promise<IssuedKey>;
    list(customerId: string, query?: ListKeysQuery, options?: CallOptions): Promise<KeyPage>;
    rotate(customerId: string, keyId: string, body?: RotateKeyBody, options?: CallOptions): Promise<IssuedKey>;
    revoke(customerId: string, keyId: string, options?: CallOptions): Promise<ApiKey>;
  };
  /** A customer's usage per meter for a period (`current` by default, or `YYYY-MM`). */
  usage(customerId: string, query?: UsageQuery, options?: CallOptions): Promise<UsageReport>;
  /** Reports usage (`POST /v1/events`, 1-1000 events). Each event's idempotencyKey makes a retry count once, so it is retried. */
  ingest(events: UsageEvent[], options?: CallOptions): Promise<IngestResult>;
  /**
   * Asks whether to serve a request (`POST /v1/keys/verify`). A refusal is a decision (`valid: false`), not an error.
   * Retried only with an `idempotencyKey` (a repeat would otherwise count the usage twice).
   */
  verify(request: VerifyRequest, options?: CallOptions): Promise<VerifyDecision>;
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const RETRIED_STATUSES = new Set([429, 503]);

interface Prepared {
  method: string;
  url: string;
  headers: Headers;
  body: string | undefined;
  idempotent: boolean;
  signal: AbortSignal | undefined;
}

type Loose = { params?: { path?: object; query?: object; header?: object }; body?: unknown } & CallOptions;

export function createTollgateClient(options: TollgateClientOptions): TollgateClient {
  if (options.adminToken !== undefined && options.apiKey !== undefined) throw new TypeError('createTollgateClient: give adminToken or apiKey, not both');
  const base = new URL(options.baseUrl).href.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? ((input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init));
  const retries = options.retries === false ? { max: 0 } : (options.retries ?? {});
  const maxRetries = retries.max ?? 2;
  const maxDelayMs = retries.maxDelayMs ?? 10_000;
  const baseDelayMs = retries.baseDelayMs ?? 250;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const defaults: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.adminToken !== undefined) defaults.authorization = `Bearer ${options.adminToken}`;
  if (options.apiKey !== undefined) defaults['x-api-key'] = options.apiKey;

  function prepare(method: string, path: string, init: Loose): Prepared {
    const url = new URL(base + expandPath(path, init.params?.path));
    for (const [name, value] of Object.entries(init.params?.query ?? {})) {
      for (const item of Array.isArray(value) ? value : [value]) if (item !== undefined && item !== null) url.searchParams.append(name, String(item));
    }
    const headers = new Headers(defaults);
    for (const [name, value] of Object.entries(init.params?.header ?? {})) if (value !== undefined && value !== null) headers.set(name, String(value));
    for (const [name, value] of Object.entries(init.headers ?? {})) headers.set(name, value);
    let body: string | undefined;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers.set('content-type', 'application/json');
    }
    const idempotent = init.idempotent ?? (IDEMPOTENT_METHODS.has(method) || headers.has('idempotency-key'));
    return { method, url: url.href, headers, body, idempotent, signal: init.signal };
  }

  async function send(request: Prepared): Promise<TollgateResponse<unknown>> {
    for (let attempt = 1; ; attempt++) {
      let outcome: { response: Response; data: unknown } | { failure: unknown };
      // Not AbortSignal.timeout: its timer outlives a quick answer by the whole timeout, one per call.
      const timeout = new AbortController();
      const timer = setTimeout(() => timeout.abort(new DOMException(`No answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
      try {
        const response = await fetchImpl(request.url, {
          method: request.method,
          headers: request.headers,
          body: request.body,
          signal: request.signal ? AbortSignal.any([request.signal, timeout.signal]) : timeout.signal,
        });
        outcome = { response, data: await readBody(response) };
      } catch (failure) {
        // The caller's own cancellation ends the call; a network error or this attempt's timeout may be retried.
        if (request.signal?.aborted) throw request.signal.reason;
        outcome = { failure };
      } finally {
        clearTimeout(timer);
      }
      if ('response' in outcome && outcome.response.ok) return { data: outcome.data, status: outcome.response.status, headers: outcome.response.headers };
      const error = 'failure' in outcome ? outcome.failure : new TollgateApiError({ status: outcome.response.status, headers: outcome.response.headers, body: outcome.data, method: request.method, url: request.url });
      const retryable = 'failure' in outcome || RETRIED_STATUSES.has(outcome.response.status);
      if (!retryable || !request.idempotent || attempt > maxRetries) throw error;
      const asked = 'response' in outcome ? retryAfterMs(outcome.response.headers.get('retry-after')) : undefined;
      if (asked !== undefined && asked > maxDelayMs) throw error;
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      // Jitter on our own backoff only, so that clients cut off together do not come back together.
      const delayMs = asked ?? Math.round(backoff / 2 + (Math.random() * backoff) / 2);
      options.onRetry?.({ method: request.method, url: request.url, attempt, delayMs, error });
      await sleep(delayMs, request.signal);
    }
  }

  async function call(method: string, path: string, init: Loose = {}): Promise<TollgateResponse<unknown>> {
    return send(prepare(method, path, init));
  }
  // The typed methods go through `request`, so the document types their routes, parameters and bodies too.
  const request = call as TollgateClient['request'];
  const data = async <T>(response: Promise<TollgateResponse<T>>): Promise<T> => (await response).data;

  return {
    request,
    customers: {
      create: (body, extra) => data(request('POST', '/v1/customers', { body, ...extra })),
      get: (customerId, extra) => data(request('GET', '/v1/customers/{customerId}', { params: { path: { customerId } }, ...extra })),
      list: (query, extra) => data(request('GET', '/v1/customers', { params: { query }, ...extra })),
      update: (customerId, body, extra) => data(request('PATCH', '/v1/customers/{customerId}', { params: { path: { customerId } }, body, idempotent: true, ...extra })),
    },
    keys: {
      create: (customerId, body = {}, extra) => data(request('POST', '/v1/customers/{customerId}/keys', { params: { path: { customerId } }, body, ...extra })),
      list: (customerId, query, extra) => data(request('GET', '/v1/customers/{customerId}/keys', { params: { path: { customerId }, query }, ...extra })),
      rotate: (customerId, keyId, body = {}, extra) => data(request('POST', '/v1/customers/{customerId}/keys/{keyId}/rotate', { params: { path: { customerId, keyId } }, body, ...extra })),
      revoke: (customerId, keyId, extra) => data(request('DELETE', '/v1/customers/{customerId}/keys/{keyId}', { params: { path: { customerId, keyId } }, ...extra })),
    },
    usage: (customerId, query, extra) => data(request('GET', '/v1/customers/{customerId}/usage', { params: { path: { customerId }, query }, ...extra })),
    ingest: (events, extra) => data(request('POST', '/v1/events', { body: { events }, idempotent: true, ...extra })),
    verify: (body, extra) => data(request('POST', '/v1/keys/verify', { body, idempotent: body.idempotencyKey !== undefined, ...extra })),
  };
}

/** `/v1/customers/{customerId}` with its parameters, each one path segment (percent-encoded). */
function expandPath(template: string, values: object | undefined): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value: unknown = (values as Record<string, unknown> | undefined)?.[name];
    if (value === undefined || value === null || value === '') throw new TypeError(`${template}: path parameter ${name} is missing`);
    return encodeURIComponent(String(value));
  });
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  if (!/\bjson\b/i.test(response.headers.get('content-type') ?? '')) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Not what it says it is (a proxy's page, a cut-off body): kept as text, so the caller sees it.
    return text;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
