import { Module } from '@nestjs/common';
import { TiersController } from './tiers.controller.js';
import { TiersModule } from './tiers.module.js';

/** The public tier catalog over HTTP (the service's API only, not mounted in a host app). */
@Module({
  imports: [TiersModule],
  controllers: [TiersController],
})
export class TiersApiModule {}
