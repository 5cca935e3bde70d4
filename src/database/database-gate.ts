import type { NextFunction, Request, Response } from 'express';
import type { DatabaseReadiness } from './database-readiness.js';

/** What a client is told while the database has not opened yet: about one background retry interval. */
export const DATABASE_GATE_RETRY_AFTER_SECONDS = 5;

/** Routes that work without the database (operations, API docs, the tier catalog from tiers.yaml). */
const WITHOUT_DATABASE = /^\/(health|metrics|docs)(\/|$)|^\/v1\/tiers\/?$/;

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
    response.status(503).json({
      error: 'database_unavailable',
      message: 'The database is not reachable yet; retry shortly.',
      retryAfter: DATABASE_GATE_RETRY_AFTER_SECONDS,
    });
  };
}
