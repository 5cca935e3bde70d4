import { type ArgumentsHost, HttpException, Logger } from '@nestjs/common';
import { ApiExceptionFilter } from './api-exception.filter.js';
import { BodyRefused } from './body-parsers.js';
import { isDatabaseUnavailable } from './database-errors.js';

/** What the filter answered: status, body, headers. */
function answer(exception: unknown): { status: number; body: Record<string, unknown> } {
  const sent = { status: 0, body: {} as Record<string, unknown> };
  const response = {
    headersSent: false,
    setHeader: () => response,
    status: (status: number) => {
      sent.status = status;
      return response;
    },
    json: (body: Record<string, unknown>) => {
      sent.body = body;
      return response;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;
  new ApiExceptionFilter().catch(exception, host);
  return sent;
}

const postgresError = (code: string, message: string) => Object.assign(new Error(message), { code });
/** How Nest hands over body-parser's errors: an HttpException caused by them. */
const fromBodyParser = (error: BodyRefused) => {
  Object.assign(error, { statusCode: error.status, expose: true });
  return new HttpException(error.message, error.status, { cause: error });
};

describe('ApiExceptionFilter', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']));

  it.each([
    ['22021', 'invalid byte sequence for encoding "UTF8": 0x00'],
    ['22P05', 'unsupported Unicode escape sequence'],
    ['22008', 'date/time field value out of range: "+020000-01-01"'],
    ['22007', 'invalid input syntax for type timestamp with time zone: "connection closed"'],
    ['22003', 'value "1e+21" is out of range for type bigint'],
  ])('answers a Postgres data error %s with 400 invalid_input, never 500 or 503', (code, message) => {
    expect(isDatabaseUnavailable(postgresError(code, message))).toBe(false);
    expect(answer(postgresError(code, message))).toEqual({
      status: 400,
      body: { error: 'invalid_input', message: 'A value in the request cannot be stored (out of range or malformed).' },
    });
  });

  it('answers a unique violation (two concurrent creates) with 409', () => {
    expect(answer(postgresError('23505', 'duplicate key value violates unique constraint "customers_external_id_key"'))).toMatchObject({
      status: 409,
      body: { error: 'conflict' },
    });
  });

  it('still answers an outage with 503 and anything unexpected with 500', () => {
    expect(answer(postgresError('57P01', 'terminating connection due to administrator command')).status).toBe(503);
    expect(answer(postgresError('42703', 'column "x" does not exist'))).toEqual({
      status: 500,
      body: { error: 'internal_error', message: 'Something went wrong on our side.' },
    });
  });

  it('names body refusals by their cause', () => {
    expect(answer(fromBodyParser(new BodyRefused(400, 'payload_too_deep', 'The JSON body nests deeper than 32 levels.')))).toEqual({
      status: 400,
      body: { error: 'payload_too_deep', message: 'The JSON body nests deeper than 32 levels.' },
    });
    expect(answer(fromBodyParser(new BodyRefused(400, 'payload_too_wide', 'wide'))).body.error).toBe('payload_too_wide');
    expect(answer(fromBodyParser(new BodyRefused(413, 'entity.too.large', 'request entity too large')))).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
    expect(answer(fromBodyParser(new BodyRefused(415, 'charset.unsupported', 'JSON bodies must be UTF-8.')))).toMatchObject({
      status: 415,
      body: { error: 'unsupported_media_type' },
    });
    expect(answer(fromBodyParser(new BodyRefused(400, 'entity.parse.failed', 'Unexpected end of JSON input')))).toEqual({
      status: 400,
      body: { error: 'invalid_json', message: 'The request body is not valid JSON.' },
    });
  });
});
