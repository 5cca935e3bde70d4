import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/api-keys.module.js';
import { CustomersModule } from '../customers/customers.module.js';
import { UsageModule } from '../metering/usage.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { TiersModule } from '../tiers/tiers.module.js';
import { DemoController } from './demo.controller.js';
import { DemoSeeder } from './demo.seeder.js';

@Module({
  imports: [CustomersModule, ApiKeysModule, TiersModule, RateLimitModule, UsageModule],
  controllers: [DemoController],
  providers: [DemoSeeder],
  exports: [DemoSeeder],
})
export class DemoModule {}
