import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { Metered, TOLLGATE_GUARDS } from 'tollgate';

/** Tenant B's API: one metered route (cost 1) behind the full guard chain. `/v1/*` is on pro. */
@UseGuards(...TOLLGATE_GUARDS)
@Controller('v1')
export class NoisyProbeController {
  @Get('neighbour-probe')
  @Metered('api_calls')
  probe() {
    return { ok: true };
  }
}

@Module({ controllers: [NoisyProbeController] })
export class NoisyProbeModule {}
