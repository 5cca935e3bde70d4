import { Controller, type DynamicModule, Get, Module, UseGuards } from '@nestjs/common';
import { CurrentConsumer, Metered, MeteringModule, TOLLGATE_GUARDS, Tier, type Consumer, type MeteringModuleOptions } from 'tollgate';
import { UsageAlertsListener } from './usage-alerts.listener.js';

/**
 * The same API with Tollgate's guards on chosen controllers only: for an app where most routes belong to
 * something else (a website, a GraphQL endpoint, other auth) and only part of it is a paid API.
 */
@UseGuards(...TOLLGATE_GUARDS) // key first, then tier: the order of the request path
@Controller('v1')
export class PaidApiController {
  @Get('basic/weather')
  @Metered('api_calls')
  weather(@CurrentConsumer() consumer: Consumer) {
    return { city: 'Lisbon', temperatureC: 21, customerId: consumer.customerId, tier: consumer.tier.name };
  }

  @Tier('pro')
  @Get('forecast')
  forecast(@CurrentConsumer() consumer: Consumer) {
    return { days: [21, 23, 19], customerId: consumer.customerId, tier: consumer.tier.name };
  }

  @Tier('pro')
  @Get('forecast/hourly')
  @Metered('api_calls', { cost: 5 })
  hourly(@CurrentConsumer() consumer: Consumer) {
    return { hours: [20, 21, 21, 22], customerId: consumer.customerId, tier: consumer.tier.name };
  }

  @Tier('enterprise')
  @Get('admin/report')
  report(@CurrentConsumer() consumer: Consumer) {
    return { report: 'usage by region', customerId: consumer.customerId, tier: consumer.tier.name };
  }
}

/** Not guarded, and no @Public() needed: Tollgate's guards are not global in this app. */
@Controller()
export class SiteController {
  @Get('ping')
  ping() {
    return { pong: true };
  }
}

@Module({})
export class PerControllerAppModule {
  static forRoot(options: MeteringModuleOptions = {}): DynamicModule {
    return {
      module: PerControllerAppModule,
      // Extras such as globalGuards sit next to the options (forRootAsync takes them the same way).
      imports: [MeteringModule.forRoot({ ...options, globalGuards: false })],
      controllers: [PaidApiController, SiteController],
      providers: [UsageAlertsListener],
    };
  }
}
