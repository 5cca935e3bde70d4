import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { ApiErrorBody } from './api-error.js';
import { headerSinkOf, sendJson } from './http-exchange.js';
import { isDatabaseUnavailable, isInvalidDataError, isUniqueViolation } from './database-errors.js';
import { BackingServiceUnavailableException, type ErrorHeaders, TollgateException } from './tollgate.exceptions.js';

/** What the filter sends: status, JSON body, headers. */
export interface ErrorAnswer {
  status: number;
  body: ApiErrorBody;
  headers: ErrorHeaders;
}

/** Errors that already carry an HTTP status (body-parser's, `http-errors`): the app's own, never a database fault. */
function carriesStatus(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { status, statusCode, type, expose } = error as { status?: unknown; statusCode?: unknown; type?: unknown; expose?: unknown };
  return (typeof status === 'number' || typeof statusCode === 'number') && (typeof type === 'string' || typeof expose === 'boolean');
}

/**
 * Answers Tollgate's errors in a host app as the Tollgate service does: its exceptions with their status, body and
 * headers, and the raw errors its services let through mapped like the service maps them (database unreachable →
 * 503 `service_unavailable` with Retry-After, unique violation → 409, value the database refused → 400). Without
 * it, Nest's default filter answers those raw errors with a 500. Everything else (the host's own errors) is
 * answered as Nest's default filter would; override `fallback` to change that.
 *
 * Install with `app.useGlobalFilters(new TollgateExceptionFilter())` or `{ provide: APP_FILTER, useClass: TollgateExceptionFilter }`.
 */
@Catch()
export class TollgateExceptionFilter implements ExceptionFilter {
  protected readonly logger = new Logger('Http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<object>();
    const headers = headerSinkOf(response);
    if (headers.headersSent) return;
    const answer = this.answerFor(exception);
    if (!answer) {
      this.fallback(exception, response);
      return;
    }
    for (const [name, value] of Object.entries(answer.headers)) headers.setHeader(name, value);
    sendJson(response, answer.status, answer.body);
  }

  /** Tollgate's answer for `exception`, or null when it is not one of Tollgate's errors. */
  protected answerFor(exception: unknown): ErrorAnswer | null {
    if (exception instanceof TollgateException) return { status: exception.getStatus(), body: exception.body, headers: exception.headers };
    if (exception instanceof HttpException || carriesStatus(exception)) return null;
    if (isInvalidDataError(exception)) {
      // Validation should have refused this value with the field named; the database did. Still the caller's input.
      this.logger.warn(`database refused a value (SQLSTATE ${(exception as { code: string }).code}): input validation missed it`);
      return { status: HttpStatus.BAD_REQUEST, body: { error: 'invalid_input', message: 'A value in the request cannot be stored (out of range or malformed).' }, headers: {} };
    }
    if (isUniqueViolation(exception)) {
      // Services check uniqueness first; two concurrent requests can both pass that check, one insert then loses.
      return {
        status: HttpStatus.CONFLICT,
        body: { error: 'conflict', message: 'A value that must be unique is already taken (possibly by a request made at the same time).' },
        headers: {},
      };
    }
    if (isDatabaseUnavailable(exception)) {
      // Not the caller's fault and not a bug: tell them to come back.
      this.logger.warn(`database unavailable: ${(exception as Error).message}`);
      const unavailable = new BackingServiceUnavailableException();
      return { status: unavailable.getStatus(), body: unavailable.body, headers: unavailable.headers };
    }
    return null;
  }

  /**
   * Not Tollgate's: answered as Nest's default filter does (an HttpException's status and body, else a logged 500).
   * `response` is the adapter's own (Express response or Fastify reply): answer through `sendJson`.
   */
  protected fallback(exception: unknown, response: object): void {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      sendJson(response, status, typeof body === 'object' ? body : { statusCode: status, message: body });
      return;
    }
    if (carriesStatus(exception)) {
      const { status, statusCode, expose, message } = exception as { status?: number; statusCode?: number; expose?: boolean; message?: string };
      const code = statusCode ?? status ?? HttpStatus.INTERNAL_SERVER_ERROR;
      if (code >= 400 && code < 500) {
        sendJson(response, code, { statusCode: code, message: expose === false ? 'Bad Request' : (message ?? 'Bad Request') });
        return;
      }
    }
    this.logger.error(exception instanceof Error ? exception : String(exception));
    sendJson(response, HttpStatus.INTERNAL_SERVER_ERROR, { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' });
  }
}
