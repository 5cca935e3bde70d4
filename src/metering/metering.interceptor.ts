import { type CallHandler, type ExecutionContext, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { consumerOf } from '../api-keys/index.js';
import { headerSinkOf, type HttpRequest, pathOf } from '../common/index.js';
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
    // One hand-written observable rather than a chain of operators: this runs on every metered request, and each
    // operator costs a subscriber and a promise hop. Each value the handler emits is recorded before it is passed
    // on; the reservation ends once, recorded, refused or abandoned.
    return new Observable<unknown>((subscriber) => {
      let pending = 0;
      let completed = false;
      const settle = () => {
        if (completed && pending === 0) {
          ticket.release();
          subscriber.complete();
        }
      };
      const source = next.handle().subscribe({
        next: (body) => {
          if (!this.config.meteredStatus(response.statusCode)) return subscriber.next(body);
          pending++;
          this.recorder.record(response, consumer, ticket, { method: request.method, path: pathOf(request) }).then(
            () => {
              pending--;
              subscriber.next(body);
              settle();
            },
            (error: unknown) => {
              ticket.release();
              subscriber.error(error);
            },
          );
        },
        error: (error: unknown) => {
          ticket.release();
          subscriber.error(error);
        },
        complete: () => {
          completed = true;
          settle();
        },
      });
      return () => {
        source.unsubscribe();
        // Unsubscribed before the end (the client went away): the reservation is not held forever.
        if (!completed || pending > 0) ticket.release();
      };
    });
  }
}
