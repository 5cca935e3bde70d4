import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { Metered, TOLLGATE_GUARDS } from 'tollgate';

/** One metered route (cost 1) behind the full guard chain: key, tier, rate limit, quota. `/v1/*` is on pro and enterprise. */
@UseGuards(...TOLLGATE_GUARDS)
@Controller('v1')
export class ExactnessProbeController {
  @Get('exactness-probe')
  @Metered('api_calls')
  probe() {
    return { ok: true };
  }
}

@Module({ controllers: [ExactnessProbeController] })
export class ExactnessProbeModule {}
