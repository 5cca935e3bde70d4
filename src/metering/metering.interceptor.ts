import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { catchError, mergeMap, type Observable, throwError } from 'rxjs';
import { consumerOf } from '../api-keys/index.js';
import { headerSinkOf, type HttpRequest, requestPath } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { ticketOf } from './metering.request.js';
import { UsageRecorder } from './usage.recorder.js';

/**
 * Records one usage event per successful metered response (UsageRecorder, shared with the verify API). By
 * default the response waits until the event is durable; in `async` mode it does not. A retry carrying the same
 * Idempotency-Key counts once.
 */
@Injectable()
export class MeteringInterceptor implements NestInterceptor {
  constructor(
    @Inject(UsageRecorder) private readonly recorder: UsageRecorder,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const ticket = ticketOf(request);
    const consumer = consumerOf(request);
    // No ticket: the quota guard did not run (no consumer, or guards not applied), so nothing is metered.
    if (!ticket || !consumer) return next.handle();
    const response = headerSinkOf(context.switchToHttp().getResponse<object>());
    return next.handle().pipe(
      mergeMap(async (body: unknown) => {
        try {
          if (this.config.meteredStatus(response.statusCode)) await this.recorder.record(response, consumer, ticket, { method: request.method, path: requestPath(request) });
          return body;
        } finally {
          ticket.release();
        }
      }),
      catchError((error: unknown) => {
        ticket.release();
        return throwError(() => error);
      }),
    );
  }
}
