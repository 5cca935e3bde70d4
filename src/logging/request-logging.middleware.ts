import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existingRequestState, requestHeader, requestPath } from '../common/index.js';
import { JsonLogger } from './json.logger.js';
import { requestContext } from './request-context.js';

const INCOMING_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** Assigns a request id (or keeps a sane incoming X-Request-Id) and writes one access-log line per request. */
@Injectable()
export class RequestLoggingMiddleware implements NestMiddleware {
  constructor(@Inject(JsonLogger) private readonly logger: JsonLogger) {}

  /** Express hands middleware its request and response; Fastify (through middie) the Node ones: both work. */
  use(req: IncomingMessage, res: ServerResponse, next: () => void): void {
    const incoming = requestHeader(req, 'x-request-id');
    const requestId = incoming && INCOMING_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      // The path only: query strings may carry things a caller did not mean to have logged.
      requestContext.run({ requestId }, () =>
        this.logger.pino.info(
          { method: req.method, path: existingRequestState(req)?.path ?? requestPath(req), status: res.statusCode, durationMs: Math.round(durationMs * 100) / 100 },
          'request',
        ),
      );
    });
    requestContext.run({ requestId }, next);
  }
}
