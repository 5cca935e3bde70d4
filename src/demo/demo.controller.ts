import { Controller, Get, type PipeTransform, Query, UseGuards } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { type Consumer, CurrentConsumer } from '../api-keys/index.js';
import { Metered } from '../metering/index.js';
import { TOLLGATE_GUARDS } from '../metering/index.js';
import { Tier } from '../tiers/index.js';
import { ApiErrors, ApiIdempotencyKey, METERED_ERRORS } from '../common/api.js';
import { validationFailed } from '../common/index.js';
import { EchoDto, SearchDto, StatsDto } from './demo.dto.js';

/** One optional text parameter: `?q=a&q=b` or `?q[x]=1` parse to an array or object, a clear 400 rather than echoed. */
class OptionalText implements PipeTransform<unknown, string | undefined> {
  constructor(private readonly name: string) {}

  transform(value: unknown): string | undefined {
    if (value === undefined || typeof value === 'string') return value;
    throw validationFailed([{ field: this.name, problems: [`${this.name} must be given once, as text`] }]);
  }
}

/** A small API shaped like the seed tiers' endpoint globs, to try Tollgate end to end. */
@ApiTags('demo API')
@ApiSecurity('api-key')
@ApiErrors(METERED_ERRORS)
@UseGuards(...TOLLGATE_GUARDS)
@Controller('v1')
export class DemoController {
  @Get('basic/echo')
  @Tier('free')
  @Metered('api_calls')
  @ApiOperation({ summary: 'Echo a message (free tier and up; costs 1 api_calls)' })
  @ApiQuery({ name: 'message', required: false, schema: { type: 'string' } })
  @ApiIdempotencyKey()
  @ApiOkResponse({ type: EchoDto })
  echo(@Query('message', new OptionalText('message')) message: string | undefined, @CurrentConsumer() consumer: Consumer) {
    return { echo: message ?? 'hello', tier: consumer.tier.name };
  }

  @Get('search')
  @Tier('pro')
  @Metered('api_calls', { cost: 2 })
  @ApiOperation({ summary: 'Search (pro tier and up; weighs 2: costs 2 api_calls)' })
  @ApiQuery({ name: 'q', required: false, schema: { type: 'string' } })
  @ApiIdempotencyKey()
  @ApiOkResponse({ type: SearchDto })
  search(@Query('q', new OptionalText('q')) query: string | undefined) {
    const q = (query ?? '').slice(0, 100);
    return { query: q, results: [1, 2, 3].map((n) => ({ id: n, title: `Result ${n} for "${q}"` })) };
  }

  @Get('admin/stats')
  @Tier('enterprise')
  @Metered('api_calls')
  @ApiOperation({ summary: 'Service stats (enterprise tier; costs 1 api_calls)' })
  @ApiIdempotencyKey()
  @ApiOkResponse({ type: StatsDto })
  stats(@CurrentConsumer() consumer: Consumer) {
    return { customerId: consumer.customerId, uptimeSeconds: Math.round(process.uptime()) };
  }
}
