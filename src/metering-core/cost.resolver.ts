import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Consumer } from '../api-keys/index.js';
import { TollgateConfig } from '../config/index.js';
import { TiersService } from '../tiers/index.js';
import { type HttpRequest, InvalidCostException, pathOf, requestState } from '../common/index.js';
import { MeteringMetadataAccessor } from './metering.metadata-accessor.js';

/**
 * The cost of one request: `@Metered(..., { cost })` first, then a per-endpoint `cost` from tiers.yaml,
 * else 1. Rate limiting and metering use the same number, so a costly endpoint weighs on both.
 */
@Injectable()
export class CostResolver {
  constructor(
    @Inject(MeteringMetadataAccessor) private readonly metadata: MeteringMetadataAccessor,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  /** Once per request: a `(req) => number` cost runs once, and both guards weigh the same number. */
  resolve(context: ExecutionContext, consumer: Consumer | undefined): number {
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const state = requestState(request);
    return (state.cost ??= this.compute(context, request, consumer));
  }

  /**
   * The cost of a call to `path` outside Nest (the verify API): the caller's own `cost` checked like a
   * `@Metered` one, else the catalog's per-endpoint cost, else 1 — the numbers a guarded route would weigh.
   */
  forPath(consumer: Consumer, path: string, given?: number): number {
    if (given !== undefined) return this.checked(given);
    return this.tiers.endpointCost(consumer.tier, path) ?? 1;
  }

  private compute(context: ExecutionContext, request: HttpRequest, consumer: Consumer | undefined): number {
    const cost = this.metadata.metered(context)?.cost;
    if (cost !== undefined) return this.checked(typeof cost === 'function' ? cost(request) : cost);
    return (consumer && this.tiers.endpointCost(consumer.tier, pathOf(request))) ?? 1;
  }

  /**
   * A cost often comes from the request (tokens, rows…): refuse a hostile one here, before it weighs on the
   * rate limit or reaches a batch shared with other customers' events.
   */
  private checked(value: number): number {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidCostException('This request has no valid cost: it must be a whole number ≥ 0.');
    }
    if (value > this.config.maxEventQuantity) {
      throw new InvalidCostException(`This request would cost ${value}, more than the ${this.config.maxEventQuantity} one request may cost.`, {
        maxCost: this.config.maxEventQuantity,
      });
    }
    return value;
  }
}
