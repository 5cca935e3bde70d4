import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiHeader, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { ApiErrorDto } from './api-error.dto.js';

/** Error statuses an operation answers, each with the `error` codes it can carry. */
export type ErrorCodes = Partial<Record<number, readonly string[]>>;

/** `ApiError` with its `error` narrowed to the codes of one status of one operation. */
export function errorSchema(codes: readonly string[]) {
  return {
    allOf: [{ $ref: getSchemaPath(ApiErrorDto) }, { type: 'object' as const, properties: { error: { type: 'string' as const, enum: [...codes] } } }],
  };
}

/**
 * Documents error statuses with their codes. Only what this operation (or controller) answers beyond the rest of
 * its kind: the document builder (openapi.document.ts) adds what every operation with a body, a parameter, a
 * security scheme or the database can answer. A status may be given at class or method level, not both.
 */
export function ApiErrors(codes: ErrorCodes) {
  return applyDecorators(
    ApiExtraModels(ApiErrorDto),
    ...Object.entries(codes).map(([status, list]) => ApiResponse({ status: Number(status), description: (list ?? []).join(', '), schema: errorSchema(list ?? []) })),
  );
}

/** Refusals of a route with its own rate limit (`RateLimit*` / `X-RateLimit-*` headers on its answers). */
export const RATE_LIMITED_ERRORS = { 429: ['rate_limit_exceeded'], 503: ['rate_limiter_unavailable'] } as const satisfies ErrorCodes;

/**
 * Refusals of a route behind the API-key guards with `@Tier()` and `@Metered()` (TOLLGATE_GUARDS + the metering
 * interceptor): tier, rate limit, quota (`X-Quota-*` headers), idempotency key, cost, durable recording.
 */
export const METERED_ERRORS = {
  400: ['invalid_idempotency_key', 'invalid_cost'],
  403: ['tier_required', 'ip_not_allowed', 'endpoint_not_allowed'],
  429: ['rate_limit_exceeded', 'quota_exceeded', 'usage_limit_reached', 'usage_exceeded'],
  500: ['usage_not_recorded'],
  503: ['rate_limiter_unavailable', 'usage_unavailable'],
} as const satisfies ErrorCodes;

/** `Idempotency-Key` of a metered route: a retry with the same key is counted once (QuotaGuard checks its shape). */
export function ApiIdempotencyKey() {
  return ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'A retry with the same key is counted once',
    schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
  });
}
