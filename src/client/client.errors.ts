import type { ApiErrorBody } from './client.types.js';

/**
 * A non-2xx answer from Tollgate. `code` is the body's `error` (`rate_limit_exceeded`, `customer_not_found`, …), or
 * `http_<status>` when the body is not Tollgate's error shape (a proxy's page, say); `body` is the parsed body.
 */
export class TollgateApiError extends Error {
  override readonly name = 'TollgateApiError';
  readonly status: number;
  readonly code: string;
  readonly headers: Headers;
  readonly body: ApiErrorBody | string | undefined;
  readonly method: string;
  readonly url: string;

  constructor(init: { status: number; headers: Headers; body: unknown; method: string; url: string }) {
    const body = isErrorBody(init.body) ? init.body : typeof init.body === 'string' && init.body !== '' ? init.body : undefined;
    const code = typeof body === 'object' ? body.error : `http_${init.status}`;
    super(typeof body === 'object' ? body.message : `${init.method} ${init.url} answered ${init.status}`);
    this.status = init.status;
    this.code = code;
    this.headers = init.headers;
    this.body = body;
    this.method = init.method;
    this.url = init.url;
  }

  /** Seconds the server asked to wait (`Retry-After` as seconds, or an HTTP date from now), if it said. */
  get retryAfter(): number | undefined {
    const ms = retryAfterMs(this.headers.get('retry-after'));
    return ms === undefined ? undefined : Math.ceil(ms / 1000);
  }

  /** The request id the service logged this answer under (X-Request-Id). */
  get requestId(): string | undefined {
    return this.headers.get('x-request-id') ?? undefined;
  }
}

function isErrorBody(body: unknown): body is ApiErrorBody {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string' && typeof (body as { message?: unknown }).message === 'string';
}

/** `Retry-After` in milliseconds from now: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if absent or unreadable. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date names a weekday and a month; Date.parse alone would also read "5.5" or "-1" as dates.
  if (!/[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
