import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { type Consumer, consumerOf, KeyUsageCap } from '../api-keys/index.js';
import { CostResolver } from '../metering-core/index.js';
import { firstRunFor, RequestStep } from '../common/index.js';
import { applyErrorHeaders, headerSinkOf, type HttpRequest, InvalidIdempotencyKeyException, requestHeader, UsageExceededException } from '../common/index.js';
import { attachTicket, IDEMPOTENCY_KEY, type MeteringTicket, requestEventKey } from './metering.request.js';
import { MeteringMetadataAccessor } from '../metering-core/index.js';
import { isQuotaRefusal, QuotaAdmission, type QuotaRefusal } from './quota.admission.js';

/**
 * Fourth guard. On `@Metered` routes: the monthly quota, decided by QuotaAdmission (shared with the verify API); the
 * ticket it hands the metering interceptor carries the reservation and what to record. On every keyed route: last,
 * the key's usage cap (KeyUsageCap, shared with the verify API), spent only once everything else admitted the request.
 */
/** Whether the key's usage cap is spent: a capped key, a request that costs, and not a retry of one already admitted
 * (same Idempotency-Key: it spent its cost the first time). */
function spendsCap(consumer: Consumer, cost: number, ticket: MeteringTicket | null): boolean {
  return consumer.key.controls.usageCapped && cost !== 0 && !ticket?.duplicate;
}

@Injectable()
export class QuotaGuard implements CanActivate {
  constructor(
    @Inject(QuotaAdmission) private readonly admission: QuotaAdmission,
    @Inject(MeteringMetadataAccessor) private readonly metadata: MeteringMetadataAccessor,
    @Inject(CostResolver) private readonly costs: CostResolver,
    @Inject(KeyUsageCap) private readonly usageCap: KeyUsageCap,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const metered = this.metadata.metered(context);
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const consumer = consumerOf(request);
    if (!consumer || (!metered && !consumer.key.controls.usageCapped)) return true;
    // Applied globally and per controller, Nest runs this guard twice: the quota is reserved once.
    if (!firstRunFor(request, RequestStep.quotaReserved)) return true;
    if (!metered) return this.spendCap(context, consumer, this.costs.resolve(context, consumer), null).then(() => true);

    const header = requestHeader(request, 'idempotency-key');
    if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) {
      throw new InvalidIdempotencyKeyException();
    }
    const cost = this.costs.resolve(context, consumer);
    const eventKey = header === undefined ? null : requestEventKey(header);
    const response = headerSinkOf(context.switchToHttp().getResponse<object>());
    let admitted: MeteringTicket | Promise<MeteringTicket>;
    try {
      admitted = this.admission.admitNow(response, consumer, metered.meter, cost, header ?? null, eventKey);
    } catch (error) {
      return this.refused(context, error);
    }
    // Most requests are decided without I/O, and then so is this guard: no promise for Nest to await.
    if (!(admitted instanceof Promise)) return this.admitted(context, request, consumer, cost, admitted);
    return admitted.then(
      (ticket) => this.admitted(context, request, consumer, cost, ticket),
      (error: unknown) => this.refused(context, error),
    );
  }

  private admitted(context: ExecutionContext, request: HttpRequest, consumer: Consumer, cost: number, ticket: MeteringTicket): boolean | Promise<boolean> {
    if (!spendsCap(consumer, cost, ticket)) {
      attachTicket(request, ticket);
      return true;
    }
    return this.spendCap(context, consumer, cost, ticket).then(() => {
      attachTicket(request, ticket);
      return true;
    });
  }

  private refused(context: ExecutionContext, error: unknown): Promise<never> {
    if (isQuotaRefusal(error)) return this.throwQuotaException(context, error);
    throw error;
  }

  /** The key's usage cap, after the quota admitted the request; a refusal ends the quota reservation (nothing spent). */
  private async spendCap(context: ExecutionContext, consumer: Consumer, cost: number, ticket: MeteringTicket | null): Promise<void> {
    if (!spendsCap(consumer, cost, ticket)) return;
    try {
      await this.usageCap.spend(consumer, cost);
    } catch (error) {
      ticket?.release();
      if (error instanceof UsageExceededException) applyErrorHeaders(error, headerSinkOf(context.switchToHttp().getResponse<object>()));
      throw error;
    }
  }

  /**
   * How a quota refusal leaves: 429 `quota_exceeded` / `usage_limit_reached`, or for a `throttle` customer past its
   * quota 429 `rate_limit_exceeded` (503 `rate_limiter_unavailable` on a closed-mode store fault). Override to change
   * the answer; it must throw.
   */
  protected async throwQuotaException(context: ExecutionContext, exception: QuotaRefusal): Promise<never> {
    applyErrorHeaders(exception, headerSinkOf(context.switchToHttp().getResponse<object>()));
    throw exception;
  }
}
