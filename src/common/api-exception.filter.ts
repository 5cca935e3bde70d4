import { Catch, HttpException, HttpStatus } from '@nestjs/common';
import { isApiErrorBody } from './api-error.js';
import { sendJson } from './http-exchange.js';
import { TollgateExceptionFilter } from './tollgate-exception.filter.js';

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  503: 'service_unavailable',
};

/** Error codes of body-parser refusals by their `type` (ours from body-parsers.ts included); others go by status. */
const BODY_ERRORS: Record<string, string> = {
  'entity.parse.failed': 'invalid_json',
  'entity.too.large': 'payload_too_large',
  payload_too_deep: 'payload_too_deep',
  payload_too_wide: 'payload_too_wide',
  'parameters.too.many': 'payload_too_wide',
  'querystring.parse.rangeError': 'payload_too_deep',
  'charset.unsupported': 'unsupported_media_type',
  'encoding.unsupported': 'unsupported_media_type',
};

/** Express body-parser errors carry `status` and `type` (e.g. `entity.parse.failed` for broken JSON). */
interface BodyParserError {
  status: number;
  type: string;
  message: string;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as BodyParserError).status === 'number' && typeof (error as BodyParserError).type === 'string';
}

/**
 * The service's filter: Tollgate's errors as the library's filter answers them, and every other error too as
 * `{ error, message, ... }` JSON; unexpected ones are logged and never leak internals.
 */
@Catch()
export class ApiExceptionFilter extends TollgateExceptionFilter {
  protected override fallback(exception: unknown, res: object): void {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      // Bodies built on purpose (ours, terminus' health report) pass through; Nest's defaults carry `statusCode`.
      if (isApiErrorBody(body) || (typeof body === 'object' && body !== null && !('statusCode' in body))) {
        sendJson(res, status, body);
        return;
      }
      // Nest wraps body-parser's refusals (ours from body-parsers.ts too) in an HttpException.
      if (isBodyParserError(exception.cause) && BODY_ERRORS[exception.cause.type]) {
        const parseFailed = exception.cause.type === 'entity.parse.failed';
        sendJson(res, status, { error: BODY_ERRORS[exception.cause.type], message: parseFailed ? 'The request body is not valid JSON.' : exception.cause.message });
        return;
      }
      const nestMessage = typeof body === 'string' ? body : (body as { message?: unknown }).message;
      const message = Array.isArray(nestMessage) ? nestMessage.join('; ') : typeof nestMessage === 'string' ? nestMessage : exception.message;
      sendJson(res, status, { error: CODES[status] ?? 'error', message });
      return;
    }
    if (isBodyParserError(exception) && exception.status >= 400 && exception.status < 500) {
      const error = BODY_ERRORS[exception.type] ?? CODES[exception.status] ?? 'bad_request';
      const message = exception.type === 'entity.parse.failed' ? 'The request body is not valid JSON.' : exception.message;
      sendJson(res, exception.status, { error, message });
      return;
    }
    this.logger.error(exception instanceof Error ? exception : String(exception));
    sendJson(res, HttpStatus.INTERNAL_SERVER_ERROR, { error: 'internal_error', message: 'Something went wrong on our side.' });
  }
}
