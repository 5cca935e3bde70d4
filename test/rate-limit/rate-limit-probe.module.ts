import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { SkipThrottle, Throttle } from '@nestjs/throttler';
import { Metered, TOLLGATE_GUARDS } from 'tollgate';

/** Routes on the free tier's glob with the full guard chain, to exercise rate limiting over HTTP. */
@UseGuards(...TOLLGATE_GUARDS)
@Controller('v1/basic')
class RateLimitProbeController {
  @Get('rl')
  plain() {
    return { ok: true };
  }

  @Get('costly')
  @Metered('api_calls', { cost: 5 })
  costly() {
    return { ok: true };
  }

  @Get('skip')
  @SkipThrottle()
  skip() {
    return { ok: true };
  }

  @Get('throttled')
  @Throttle({ default: { limit: 2, ttl: 60_000 } })
  throttled() {
    return { ok: true };
  }
}

@Module({ controllers: [RateLimitProbeController] })
export class RateLimitProbeModule {}
