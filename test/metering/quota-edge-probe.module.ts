import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { Metered, TOLLGATE_GUARDS } from 'tollgate';

/** What the probe's handlers did, and a gate that holds the slow one until the test opens it. */
export const probe = {
  served: 0,
  /** Requests inside the slow handler, waiting at the gate. */
  waiting: 0,
  gate: Promise.resolve(),
  open: () => {},
  hold(): void {
    this.gate = new Promise<void>((resolve) => (this.open = resolve));
  },
};

/** Metered routes at the edge of a quota, behind the full guard chain; `/v1/basic/*` is on every tier. */
@UseGuards(...TOLLGATE_GUARDS)
@Controller('v1/basic')
export class QuotaEdgeProbeController {
  @Get('edge')
  @Metered('api_calls')
  plain() {
    probe.served++;
    return { ok: true };
  }

  @Get('edge-slow')
  @Metered('api_calls')
  async slow() {
    probe.waiting++;
    await probe.gate;
    probe.waiting--;
    probe.served++;
    return { ok: true };
  }

  /** The cost comes from the request, as a host app's `(req) => tokens` would. */
  @Get('edge-priced')
  @Metered('api_calls', { cost: (request: Request) => Number(request.query.cost) })
  priced() {
    probe.served++;
    return { ok: true };
  }
}

@Module({ controllers: [QuotaEdgeProbeController] })
export class QuotaEdgeProbeModule {}
