import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

// The metadata keys @nestjs/throttler's @Throttle() and @SkipThrottle() write (per named throttler).
const THROTTLER_LIMIT = 'THROTTLER:LIMIT';
const THROTTLER_TTL = 'THROTTLER:TTL';
const THROTTLER_SKIP = 'THROTTLER:SKIP';

type Resolvable = number | ((context: ExecutionContext) => number | Promise<number>);

/** What decorators say about one route, for every named throttler. */
export interface RouteThrottling {
  /** @SkipThrottle() for the default throttler: no rate limit at all on this route. */
  skipDefault: boolean;
  /** Route-level @Throttle() limits, on top of the consumer's tier. */
  throttles: Array<{ name: string; limit: Resolvable; ttl: Resolvable }>;
}

/** Reads @Throttle / @SkipThrottle (so @nestjs/throttler users keep their decorators), once per route. */
@Injectable()
export class RateLimitMetadataAccessor {
  private readonly byHandler = new WeakMap<object, RouteThrottling>();

  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}

  route(context: ExecutionContext, throttlerNames: string[]): RouteThrottling {
    const handler = context.getHandler();
    const known = this.byHandler.get(handler);
    if (known) return known;
    const targets = [handler, context.getClass()];
    const skipped = (name: string) => this.reflector.getAllAndOverride<boolean>(THROTTLER_SKIP + name, targets) === true;
    const throttles = throttlerNames
      .filter((name) => !skipped(name))
      .map((name) => ({
        name,
        limit: this.reflector.getAllAndOverride<Resolvable>(THROTTLER_LIMIT + name, targets),
        ttl: this.reflector.getAllAndOverride<Resolvable>(THROTTLER_TTL + name, targets),
      }))
      .filter((throttle) => throttle.limit !== undefined && throttle.ttl !== undefined);
    const info = { skipDefault: skipped('default'), throttles };
    this.byHandler.set(handler, info);
    return info;
  }

  async resolve(context: ExecutionContext, value: Resolvable): Promise<number> {
    return typeof value === 'function' ? value(context) : value;
  }
}
