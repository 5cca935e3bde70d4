import { Controller, Get, Query, UseGuards } from '@nestjs/common';
import { ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { type Consumer, CurrentConsumer } from '../api-keys/index.js';
import { Metered } from '../metering/index.js';
import { TOLLGATE_GUARDS } from '../metering/index.js';
import { Tier } from '../tiers/index.js';

/** A small API shaped like the seed tiers' endpoint globs, to try Tollgate end to end. */
@ApiTags('demo API')
@ApiSecurity('api-key')
@UseGuards(...TOLLGATE_GUARDS)
@Controller('v1')
export class DemoController {
  @Get('basic/echo')
  @Tier('free')
  @Metered('api_calls')
  @ApiQuery({ name: 'message', required: false })
  echo(@Query('message') message: string | undefined, @CurrentConsumer() consumer: Consumer) {
    return { echo: message ?? 'hello', tier: consumer.tier.name };
  }

  @Get('search')
  @Tier('pro')
  @Metered('api_calls', { cost: 2 })
  @ApiQuery({ name: 'q', required: false })
  search(@Query('q') query: string | undefined) {
    const q = (query ?? '').slice(0, 100);
    return { query: q, results: [1, 2, 3].map((n) => ({ id: n, title: `Result ${n} for "${q}"` })) };
  }

  @Get('admin/stats')
  @Tier('enterprise')
  @Metered('api_calls')
  stats(@CurrentConsumer() consumer: Consumer) {
    return { customerId: consumer.customerId, uptimeSeconds: Math.round(process.uptime()) };
  }
}
