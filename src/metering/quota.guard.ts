import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { type Consumer, consumerOf, KeyUsageCap } from '../api-keys/index.js';
import { CostResolver } from '../metering-core/index.js';
import { firstRunFor } from '../common/index.js';
import { applyErrorHeaders, headerSinkOf, type HttpRequest, InvalidIdempotencyKeyException, requestHeader, UsageExceededException } from '../common/index.js';
import { attachTicket, IDEMPOTENCY_KEY, type MeteringTicket, requestEventKey } from './metering.request.js';
import { MeteringMetadataAccessor } from '../metering-core/index.js';
import { isQuotaRefusal, QuotaAdmission, type QuotaRefusal } from './quota.admission.js';

/**
 * Fourth guard. On `@Metered` routes: the monthly quota, decided by QuotaAdmission (shared with the verify API); the
 * ticket it hands the metering interceptor carries the reservation and what to record. On every keyed route: last,
 * the key's usage cap (KeyUsageCap, shared with the verify API), spent only once everything else admitted the request.
 */
const QUOTA_RESERVED = Symbol('quota reserved');

@Injectable()
export class QuotaGuard implements CanActivate {
  constructor(
    @Inject(QuotaAdmission) private readonly admission: QuotaAdmission,
    @Inject(MeteringMetadataAccessor) private readonly metadata: MeteringMetadataAccessor,
    @Inject(CostResolver) private readonly costs: CostResolver,
    @Inject(KeyUsageCap) private readonly usageCap: KeyUsageCap,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const metered = this.metadata.metered(context);
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const consumer = consumerOf(request);
    if (!consumer || (!metered && !consumer.key.controls.usageCapped)) return true;
    // Applied globally and per controller, Nest runs this guard twice: the quota is reserved once.
    if (!firstRunFor(request, QUOTA_RESERVED)) return true;
    const response = headerSinkOf(context.switchToHttp().getResponse<object>());
    if (!metered) {
      await this.spendCap(context, consumer, this.costs.resolve(context, consumer), null);
      return true;
    }

    const header = requestHeader(request, 'idempotency-key');
    if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) {
      throw new InvalidIdempotencyKeyException();
    }
    const cost = this.costs.resolve(context, consumer);
    const eventKey = header === undefined ? null : requestEventKey(header);
    let ticket: MeteringTicket;
    try {
      ticket = await this.admission.admit(response, consumer, metered.meter, cost, header ?? null, eventKey);
    } catch (error) {
      if (isQuotaRefusal(error)) await this.throwQuotaException(context, error);
      throw error;
    }
    await this.spendCap(context, consumer, cost, ticket);
    attachTicket(request, ticket);
    return true;
  }

  /** The key's usage cap, after the quota admitted the request; a refusal ends the quota reservation (nothing spent). */
  private async spendCap(context: ExecutionContext, consumer: Consumer, cost: number, ticket: MeteringTicket | null): Promise<void> {
    // A retry of a request already admitted (same Idempotency-Key) spent its cost the first time.
    if (!consumer.key.controls.usageCapped || cost === 0 || ticket?.duplicate) return;
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
