import { Controller, Get, Query } from '@nestjs/common';
import { CurrentConsumer, Metered, Public, Tier, type Consumer } from 'tollgate';

// With MeteringModule's global guards every route needs an API key unless it is marked @Public().
// `@Tier()` names the lowest tier allowed; tiers.yaml's endpoint globs are enforced too (the stricter wins).
// `@Metered()` records one usage event per successful response (against the caller's quota), weighed by `cost`.

/** Free tier: tiers.yaml lists /v1/basic/* for free, so no @Tier() is needed. */
@Controller('v1/basic')
export class WeatherController {
  @Get('weather')
  @Metered('api_calls')
  weather(@CurrentConsumer() consumer: Consumer, @Query('city') city?: string) {
    return { city: city ?? 'Lisbon', temperatureC: 21, customerId: consumer.customerId, tier: consumer.tier.name };
  }
}

/** On the controller, @Tier() covers every route, also /v1/forecast/hourly, which no glob in tiers.yaml lists. */
@Tier('pro')
@Controller('v1/forecast')
export class ForecastController {
  @Get()
  forecast(@CurrentConsumer() consumer: Consumer) {
    return { days: [21, 23, 19], customerId: consumer.customerId, tier: consumer.tier.name };
  }

  @Get('hourly')
  @Metered('api_calls', { cost: 5 }) // a heavier call counts (and is rate-limited) as five
  hourly(@CurrentConsumer() consumer: Consumer) {
    return { hours: [20, 21, 21, 22], customerId: consumer.customerId, tier: consumer.tier.name };
  }
}

@Tier('enterprise')
@Controller('v1/admin')
export class AdminReportController {
  @Get('report')
  report(@CurrentConsumer() consumer: Consumer) {
    return { report: 'usage by region', customerId: consumer.customerId, tier: consumer.tier.name };
  }
}

/** Load balancers and status pages call this without a key. */
@Public()
@Controller('status')
export class StatusController {
  @Get()
  status() {
    return { status: 'ok' };
  }
}
