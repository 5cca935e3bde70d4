import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { consumerOf } from '../api-keys/index.js';
import { CostResolver } from '../metering-core/index.js';
import { applyErrorHeaders, firstRunFor, headerSinkOf, type HttpRequest, RateLimitExceededException, RequestStep, TollgateException } from '../common/index.js';
import { RateLimitMetadataAccessor } from './rate-limit.metadata-accessor.js';
import { RateLimiterUnavailableException } from './rate-limit.exceptions.js';
import { ConsumerRateLimiter } from './consumer.rate-limiter.js';
import type { RateLimitPolicy } from './rate-limit.storage.js';

type ThrottlerRequest = Parameters<ThrottlerGuard['handleRequest']>[0];

/**
 * Third guard: per-tier limits for API consumers on top of @nestjs/throttler. A consumer's budget is
 * its tier's (or its own overridden) policies, shared by all of its keys, plus any route-level
 * @Throttle(); every policy is checked and charged in one call to the store, weighted by the request's
 * cost. Anonymous callers fall through to @nestjs/throttler's behaviour (@Throttle per route).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    @Inject(Reflector) reflector: Reflector,
    @Inject(ConsumerRateLimiter) private readonly limiter: ConsumerRateLimiter,
    @Inject(RateLimitMetadataAccessor) private readonly metadata: RateLimitMetadataAccessor,
    @Inject(CostResolver) private readonly costs: CostResolver,
  ) {
    super(options, storage, reflector);
  }

  private names: string[] | null = null;

  /** The configured throttlers' names (set once @nestjs/throttler has read its options). */
  private get throttlerNames(): string[] {
    return (this.names ??= this.throttlers.map((throttler) => throttler.name ?? 'default'));
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<HttpRequest>();
    // Applied globally and per controller, Nest runs this guard twice: the request is charged once.
    if (!firstRunFor(request, RequestStep.rateLimitCharged)) return true;
    const consumer = consumerOf(request);
    if (!consumer) return super.canActivate(context);
    const route = this.metadata.route(context, this.throttlerNames);
    if (route.skipDefault) return true;
    // `shouldSkip` is a hook: asked only when a subclass overrides it (@nestjs/throttler's own answers false, and an
    // await of it is a promise and a microtask on every request).
    if (this.shouldSkip !== RateLimitGuard.prototype.shouldSkip && (await this.shouldSkip(context))) return true;

    const routePolicies: RateLimitPolicy[] = [];
    for (const throttle of route.throttles) {
      const limit = await this.metadata.resolve(context, throttle.limit);
      if (!Number.isFinite(limit)) continue;
      const routeKey = `${context.getClass().name}.${context.getHandler().name}`;
      routePolicies.push({ id: `route:${routeKey}:${throttle.name}`, limit, windowMs: await this.metadata.resolve(context, throttle.ttl) });
    }
    if (consumer.limits.rateLimits.length === 0 && consumer.key.controls.rateLimits.length === 0 && routePolicies.length === 0) return true;

    const cost = this.costs.resolve(context, consumer);
    const response = headerSinkOf(context.switchToHttp().getResponse<object>());
    try {
      await this.limiter.charge(response, consumer, cost, routePolicies);
    } catch (error) {
      if (error instanceof RateLimitExceededException || error instanceof RateLimiterUnavailableException) await this.throwRateLimitException(context, error);
      throw error;
    }
    return true;
  }

  /**
   * How a consumer's refusal leaves (429 `rate_limit_exceeded`, or 503 `rate_limiter_unavailable` in `closed` mode
   * on a store fault), headers already set. Override to change the answer; it must throw. The anonymous path keeps
   * @nestjs/throttler's own hook, `throwThrottlingException`.
   */
  protected async throwRateLimitException(context: ExecutionContext, exception: RateLimitExceededException | RateLimiterUnavailableException): Promise<never> {
    applyErrorHeaders(exception, headerSinkOf(context.switchToHttp().getResponse<object>()));
    throw exception;
  }

  /**
   * Anonymous path: an unbounded default throttler costs nothing and limits nothing. A store fault in `closed`
   * mode surfaces here from the storage adapter (which has no response): its 503 gets the same `Retry-After`.
   */
  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    if (!Number.isFinite(props.limit)) return true;
    try {
      return await super.handleRequest(props);
    } catch (error) {
      if (error instanceof TollgateException) applyErrorHeaders(error, headerSinkOf(props.context.switchToHttp().getResponse<object>()));
      throw error;
    }
  }
}
