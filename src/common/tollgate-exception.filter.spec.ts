import { type ArgumentsHost, HttpException, Logger, NotFoundException } from '@nestjs/common';
import { TollgateExceptionFilter } from './tollgate-exception.filter.js';
import { InvalidApiKeyException, QuotaExceededException, RateLimiterUnavailableException, TollgateException } from './tollgate.exceptions.js';

/** What the filter answered: status, body, headers. */
function answer(exception: unknown): { status: number; body: unknown; headers: Record<string, unknown> } {
  const sent = { status: 0, body: undefined as unknown, headers: {} as Record<string, unknown> };
  const response = {
    headersSent: false,
    setHeader: (name: string, value: unknown) => {
      sent.headers[name] = value;
      return response;
    },
    status: (status: number) => {
      sent.status = status;
      return response;
    },
    json: (body: unknown) => {
      sent.body = body;
      return response;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;
  new TollgateExceptionFilter().catch(exception, host);
  return sent;
}

describe('TollgateExceptionFilter', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose', 'fatal']));

  it("answers Tollgate's exceptions with their status, body and headers", () => {
    expect(answer(new InvalidApiKeyException('This API key has been revoked.'))).toEqual({
      status: 401,
      body: { error: 'invalid_api_key', message: 'This API key has been revoked.' },
      headers: { 'WWW-Authenticate': 'Bearer realm="tollgate", error="invalid_token"' },
    });
    expect(answer(new RateLimiterUnavailableException())).toEqual({
      status: 503,
      body: { error: 'rate_limiter_unavailable', message: 'Rate limiting is temporarily unavailable; retry shortly.' },
      headers: { 'Retry-After': 1 },
    });
    const quota = answer(new QuotaExceededException({ meter: 'api_calls', included: 10, used: 10, periodEnd: '2026-01-01T00:00:00.000Z', retryAfter: 60, upgradeUrl: 'https://x.example/up' }));
    expect(quota).toEqual({
      status: 429,
      body: {
        error: 'quota_exceeded',
        message: 'You have used your 10 included api calls this period. Upgrade or wait for the period to reset.',
        upgradeUrl: 'https://x.example/up',
        meter: 'api_calls',
        included: 10,
        used: 10,
        periodEnd: '2026-01-01T00:00:00.000Z',
        retryAfter: 60,
      },
      headers: { 'Retry-After': 60 },
    });
  });

  it('answers a database outage with 503 service_unavailable and Retry-After, where Nest alone answers 500', () => {
    const outage = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    expect(answer(outage)).toEqual({
      status: 503,
      body: { error: 'service_unavailable', message: 'A backing service is unavailable; retry shortly.' },
      headers: { 'Retry-After': 2 },
    });
    expect(answer(Object.assign(new Error('duplicate key'), { code: '23505' }))).toMatchObject({ status: 409, body: { error: 'conflict' } });
  });

  it("leaves the host's own errors as Nest's default filter answers them", () => {
    expect(answer(new NotFoundException())).toEqual({ status: 404, body: { message: 'Not Found', statusCode: 404 }, headers: {} });
    expect(answer(new HttpException('plain', 418))).toEqual({ status: 418, body: { statusCode: 418, message: 'plain' }, headers: {} });
    expect(answer(new Error('column "x" does not exist'))).toEqual({ status: 500, body: { statusCode: 500, message: 'Internal server error' }, headers: {} });
    // A body-parser refusal is the client's, never a database fault (its message may say "closed" or "timeout").
    expect(answer(Object.assign(new Error('request timeout'), { status: 408, statusCode: 408, expose: true, type: 'request.timeout' }))).toEqual({
      status: 408,
      body: { statusCode: 408, message: 'request timeout' },
      headers: {},
    });
  });

  it('lets a subclass of TollgateException define a new error the filter answers the same way', () => {
    class PaymentRequired extends TollgateException {
      constructor() {
        super(402, { error: 'payment_required', message: 'Pay first.' }, { 'Retry-After': 3600 });
      }
    }
    expect(answer(new PaymentRequired())).toEqual({ status: 402, body: { error: 'payment_required', message: 'Pay first.' }, headers: { 'Retry-After': 3600 } });
  });
});
