import { HttpException, HttpStatus } from '@nestjs/common';
import type { ApiErrorBody } from './api-error.js';

/** Headers an error answer carries (`Retry-After`, `WWW-Authenticate`); values as `setHeader` takes them. */
export type ErrorHeaders = Record<string, string | number>;

/**
 * Base of every error Tollgate's request path answers with: an HttpException whose body is the wire format
 * (`{ error: code, message, ...details }`) and which names the headers that go with it. Guards set those headers
 * on the response before throwing, so a host app answers the same with or without `TollgateExceptionFilter`;
 * the filter sets them again for exceptions thrown where no response was at hand.
 */
export class TollgateException<Body extends ApiErrorBody = ApiErrorBody> extends HttpException {
  constructor(
    status: number,
    readonly body: Body,
    readonly headers: ErrorHeaders = {},
  ) {
    super(body, status);
  }

  /** The snake_case code clients switch on (`body.error`). */
  get code(): string {
    return this.body.error;
  }

  override getResponse(): Body {
    return this.body;
  }
}

/** Where response headers go: an Express response, or a collector of the headers a decision answers with (verify API). */
export interface HeaderSink {
  setHeader(name: string, value: string | number): unknown;
}

/** Sets an exception's headers on a response (what every throw site does before throwing). */
export function applyErrorHeaders(exception: unknown, response: HeaderSink): void {
  if (!(exception instanceof TollgateException)) return;
  for (const [name, value] of Object.entries(exception.headers)) response.setHeader(name, value);
}

/** The `WWW-Authenticate` challenge of a refused API key. */
export const API_KEY_CHALLENGE = 'Bearer realm="tollgate", error="invalid_token"';

/** 401 `invalid_api_key`: no key, or one that is unknown, revoked, expired or suspended. */
export class InvalidApiKeyException extends TollgateException {
  constructor(message = 'Invalid API key.', challenge: string | null = API_KEY_CHALLENGE) {
    super(HttpStatus.UNAUTHORIZED, { error: 'invalid_api_key', message }, challenge ? { 'WWW-Authenticate': challenge } : {});
  }
}

/** 403 `scope_required`: the key authenticates but lacks the scope the route needs (e.g. `ingest`). */
export class ScopeRequiredException extends TollgateException {
  constructor(requiredScope: string, message = `This key lacks the "${requiredScope}" scope.`) {
    super(HttpStatus.FORBIDDEN, { error: 'scope_required', message, requiredScope });
  }
}

export interface TierRequiredDetails {
  requiredTier: string;
  currentTier: string;
  upgradeUrl?: string | null;
}

/** 403 `tier_required`: the caller's tier is below the route's. */
export class TierRequiredException extends TollgateException {
  constructor(details: TierRequiredDetails, message = `This endpoint needs the ${details.requiredTier} tier or higher; your tier is ${details.currentTier}.`) {
    super(HttpStatus.FORBIDDEN, {
      error: 'tier_required',
      message,
      requiredTier: details.requiredTier,
      currentTier: details.currentTier,
      upgradeUrl: details.upgradeUrl,
    });
  }
}

export interface RateLimitExceededDetails {
  /** Whole seconds; also the `Retry-After` header. */
  retryAfter: number;
  limit: number;
  windowSeconds: number;
  /** More fields for the body (e.g. the tier and an upgrade URL). */
  [detail: string]: unknown;
}

/** 429 `rate_limit_exceeded` with `Retry-After`: the same body wherever a rate limit refuses. */
export class RateLimitExceededException extends TollgateException {
  constructor(details: RateLimitExceededDetails, message = `Rate limit of ${details.limit} per ${details.windowSeconds} s exceeded; retry in ${details.retryAfter} s.`) {
    super(HttpStatus.TOO_MANY_REQUESTS, { error: 'rate_limit_exceeded', message, ...details }, { 'Retry-After': details.retryAfter });
  }
}

export interface QuotaRefusalDetails {
  meter: string;
  /** Units included per period (null: unlimited). */
  included: number | null;
  /** Exact usage so far (a string past 2^53, see `jsonQuantity`). */
  used: number | string;
  periodEnd: string;
  /** Whole seconds until the period ends; also the `Retry-After` header. */
  retryAfter: number;
}

/** 429 `quota_exceeded` with `Retry-After` (the period's end): the monthly quota is used up under a `block` policy. */
export class QuotaExceededException extends TollgateException {
  constructor(details: QuotaRefusalDetails & { upgradeUrl?: string | null }, message?: string) {
    const { upgradeUrl, ...state } = details;
    super(
      HttpStatus.TOO_MANY_REQUESTS,
      {
        error: 'quota_exceeded',
        message: message ?? `You have used your ${details.included} included ${details.meter.replace(/_/g, ' ')} this period. Upgrade or wait for the period to reset.`,
        upgradeUrl,
        ...state,
      },
      { 'Retry-After': details.retryAfter },
    );
  }
}

/** 429 `usage_limit_reached` with `Retry-After`: one counter cannot hold this request's usage this period. */
export class UsageLimitReachedException extends TollgateException {
  constructor(message: string, details: Partial<QuotaRefusalDetails> & { retryAfter: number; meter: string; limit?: number | string }) {
    super(HttpStatus.TOO_MANY_REQUESTS, { error: 'usage_limit_reached', message, ...details }, { 'Retry-After': details.retryAfter });
  }
}

/** 400 `invalid_cost`: a `@Metered` cost that is not a whole number ≥ 0, or more than one request may cost. */
export class InvalidCostException extends TollgateException {
  constructor(message: string, details: { maxCost?: number } = {}) {
    super(HttpStatus.BAD_REQUEST, { error: 'invalid_cost', message, ...details });
  }
}

/** 400 `invalid_idempotency_key`. */
export class InvalidIdempotencyKeyException extends TollgateException {
  constructor(message = 'Idempotency-Key must be 1-255 visible ASCII characters.') {
    super(HttpStatus.BAD_REQUEST, { error: 'invalid_idempotency_key', message });
  }
}

/** A closed-mode 503 asks the client back after about one breaker cooldown (the default 1 s). */
export const RATE_LIMITER_RETRY_AFTER_SECONDS = 1;

/** 503 `rate_limiter_unavailable` with `Retry-After` (failure mode `closed`, the rate-limit store faulted). */
export class RateLimiterUnavailableException extends TollgateException {
  constructor(retryAfter = RATE_LIMITER_RETRY_AFTER_SECONDS) {
    super(
      HttpStatus.SERVICE_UNAVAILABLE,
      { error: 'rate_limiter_unavailable', message: 'Rate limiting is temporarily unavailable; retry shortly.' },
      { 'Retry-After': retryAfter },
    );
  }
}

/** What a client is told while the database has not opened yet: about one background retry interval. */
export const DATABASE_GATE_RETRY_AFTER_SECONDS = 5;

/** 503 `database_unavailable` with `Retry-After`: the app started during a database outage and it has not opened yet. */
export class DatabaseUnavailableException extends TollgateException {
  constructor(retryAfter = DATABASE_GATE_RETRY_AFTER_SECONDS) {
    super(
      HttpStatus.SERVICE_UNAVAILABLE,
      { error: 'database_unavailable', message: 'The database is not reachable yet; retry shortly.', retryAfter },
      { 'Retry-After': retryAfter },
    );
  }
}

/**
 * 503 `usage_unavailable` with `Retry-After`: the request's usage could not be made durable (database down, spool
 * full or not writable), so it is not answered as served. A retry with the same Idempotency-Key counts once.
 */
export class UsageUnavailableException extends TollgateException {
  constructor(retryAfter: number) {
    super(
      HttpStatus.SERVICE_UNAVAILABLE,
      {
        error: 'usage_unavailable',
        message: 'Usage cannot be recorded right now (the database is unavailable and the local spool cannot take more); retry with the same Idempotency-Key.',
        retryAfter,
      },
      { 'Retry-After': retryAfter },
    );
  }
}

/** A backing service (the database) failed mid-request: not the caller's fault, come back shortly. */
export const BACKING_SERVICE_RETRY_AFTER_SECONDS = 2;

/** 503 `service_unavailable` with `Retry-After`: what `TollgateExceptionFilter` answers for a database outage error. */
export class BackingServiceUnavailableException extends TollgateException {
  constructor(retryAfter = BACKING_SERVICE_RETRY_AFTER_SECONDS) {
    super(HttpStatus.SERVICE_UNAVAILABLE, { error: 'service_unavailable', message: 'A backing service is unavailable; retry shortly.' }, { 'Retry-After': retryAfter });
  }
}

/** 500 `usage_not_recorded`: a served request's usage event was refused for a reason the guards should have caught. */
export class UsageNotRecordedException extends TollgateException {
  constructor() {
    super(HttpStatus.INTERNAL_SERVER_ERROR, { error: 'usage_not_recorded', message: 'This request could not be recorded; retry it with the same Idempotency-Key.' });
  }
}

/** 403 `ip_not_allowed`: the key has an IP allowlist and the client address is not on it (or is unknown). */
export class IpNotAllowedException extends TollgateException {
  constructor(message = 'This key may not be used from this address.') {
    super(HttpStatus.FORBIDDEN, { error: 'ip_not_allowed', message });
  }
}

/** 403 `endpoint_not_allowed`: the key is limited to some endpoints and this path is not one of them. */
export class EndpointNotAllowedException extends TollgateException {
  constructor(message = 'This key may not call this endpoint.') {
    super(HttpStatus.FORBIDDEN, { error: 'endpoint_not_allowed', message });
  }
}

/**
 * 429 `usage_exceeded`: the key's usage cap has fewer units left than the request costs. With a refill, `Retry-After`
 * is the time until the next one; without, nothing frees up (no `Retry-After`).
 */
export class UsageExceededException extends TollgateException {
  constructor(details: { remaining: number; cost: number; refillsAt: string | null; retryAfter?: number }) {
    const message =
      details.refillsAt === null
        ? `This key's usage cap is used up (${details.remaining} units left, this request costs ${details.cost}).`
        : `This key's usage cap is used up (${details.remaining} units left, this request costs ${details.cost}); it refills at ${details.refillsAt}.`;
    super(HttpStatus.TOO_MANY_REQUESTS, { error: 'usage_exceeded', message, ...details }, details.retryAfter === undefined ? {} : { 'Retry-After': details.retryAfter });
  }
}
