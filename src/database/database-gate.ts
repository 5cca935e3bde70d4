import { HttpException, HttpStatus } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import type { DatabaseReadiness } from './database-readiness.js';

/** What a client is told while the database has not opened yet: about one background retry interval. */
export const DATABASE_GATE_RETRY_AFTER_SECONDS = 5;

const GATE_BODY = {
  error: 'database_unavailable',
  message: 'The database is not reachable yet; retry shortly.',
  retryAfter: DATABASE_GATE_RETRY_AFTER_SECONDS,
};

/** Routes that work without the database (operations, API docs, the tier catalog from tiers.yaml). */
const WITHOUT_DATABASE = /^\/(health|metrics|docs)(\/|$)|^\/v1\/tiers\/?$/;

/** The same 503 for a guard (library hosts have no gate middleware): sets Retry-After, returns the exception. */
export function databaseUnavailable(response: Pick<Response, 'setHeader'>): HttpException {
  response.setHeader('Retry-After', DATABASE_GATE_RETRY_AFTER_SECONDS);
  return new HttpException(GATE_BODY, HttpStatus.SERVICE_UNAVAILABLE);
}

/**
 * Until the database has opened (a start during an outage), every request that needs it is answered 503
 * `database_unavailable` with Retry-After at once, instead of failing somewhere inside with whatever error an
 * unconnected data source throws. Once open, later outages are handled where they happen (spool, 503 per query).
 */
export function databaseGate(readiness: DatabaseReadiness) {
  return (request: Request, response: Response, next: NextFunction): void => {
    if (readiness.open || WITHOUT_DATABASE.test(request.path)) {
      next();
      return;
    }
    response.setHeader('Retry-After', DATABASE_GATE_RETRY_AFTER_SECONDS);
    response.status(503).json(GATE_BODY);
  };
}
