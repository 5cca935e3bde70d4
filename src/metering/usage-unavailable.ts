import type { Response } from 'express';
import { applyErrorHeaders, UsageUnavailableException } from '../common/index.js';
import type { UsageUnavailableError } from './usage-ingestor.js';

/**
 * 503 `usage_unavailable` with `Retry-After`: the request's usage could not be made durable (database down, spool
 * full or not writable), so it is not answered as served. A retry with the same Idempotency-Key counts once.
 */
export function usageUnavailable(error: UsageUnavailableError, response: Pick<Response, 'setHeader'>): UsageUnavailableException {
  const exception = new UsageUnavailableException(error.retryAfterSeconds);
  applyErrorHeaders(exception, response);
  return exception;
}
