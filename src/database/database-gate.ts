import type { IncomingMessage, ServerResponse } from 'node:http';
import { applyErrorHeaders, DATABASE_GATE_RETRY_AFTER_SECONDS, DatabaseUnavailableException, type HeaderSink, requestPath, sendJson } from '../common/index.js';
import type { DatabaseReadiness } from './database-readiness.js';

export { DATABASE_GATE_RETRY_AFTER_SECONDS };

const GATE_BODY = new DatabaseUnavailableException().body;

/** Routes that work without the database (operations, API docs, the tier catalog from tiers.yaml). */
const WITHOUT_DATABASE = /^\/(health|metrics|docs)(\/|$)|^\/v1\/tiers\/?$/;

/** The same 503 for a guard (library hosts have no gate middleware): sets Retry-After, returns the exception. */
export function databaseUnavailable(response: HeaderSink): DatabaseUnavailableException {
  const exception = new DatabaseUnavailableException();
  applyErrorHeaders(exception, response);
  return exception;
}

/**
 * Until the database has opened (a start during an outage), every request that needs it is answered 503
 * `database_unavailable` with Retry-After at once, instead of failing somewhere inside with whatever error an
 * unconnected data source throws. Once open, later outages are handled where they happen (spool, 503 per query).
 */
export function databaseGate(readiness: DatabaseReadiness) {
  // Express's request and response, or the Node ones Fastify hands middleware: only what both have is used.
  return (request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    if (readiness.open || WITHOUT_DATABASE.test(requestPath(request))) {
      next();
      return;
    }
    response.setHeader('Retry-After', DATABASE_GATE_RETRY_AFTER_SECONDS);
    sendJson(response, 503, GATE_BODY);
  };
}
