import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { CustomersModule } from '../customers/index.js';
import { UsageModule } from '../metering/index.js';
import { RateLimitModule } from '../rate-limit/index.js';
import { TiersModule } from '../tiers/index.js';
import { DemoController } from './demo.controller.js';
import { DemoSeeder } from './demo.seeder.js';

@Module({
  imports: [CustomersModule, ApiKeysModule, TiersModule, RateLimitModule, UsageModule],
  controllers: [DemoController],
  providers: [DemoSeeder],
  exports: [DemoSeeder],
})
export class DemoModule {}
