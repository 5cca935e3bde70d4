import { HttpException, HttpStatus } from '@nestjs/common';
import type { Response } from 'express';
import type { UsageUnavailableError } from './usage-ingestor.js';

/**
 * 503 `usage_unavailable` with `Retry-After`: the request's usage could not be made durable (database down, spool
 * full or not writable), so it is not answered as served. A retry with the same Idempotency-Key counts once.
 */
export function usageUnavailable(error: UsageUnavailableError, response: Pick<Response, 'setHeader'>): HttpException {
  response.setHeader('Retry-After', error.retryAfterSeconds);
  return new HttpException(
    {
      error: 'usage_unavailable',
      message: 'Usage cannot be recorded right now (the database is unavailable and the local spool cannot take more); retry with the same Idempotency-Key.',
      retryAfter: error.retryAfterSeconds,
    },
    HttpStatus.SERVICE_UNAVAILABLE,
  );
}
