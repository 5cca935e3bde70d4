import { Module } from '@nestjs/common';
import { TiersController } from './tiers.controller.js';
import { TiersMetadataAccessor } from './tiers.metadata-accessor.js';
import { TiersService } from './tiers.service.js';

@Module({
  providers: [TiersService, TiersMetadataAccessor],
  exports: [TiersService, TiersMetadataAccessor],
})
export class TiersModule {}

/** The public tier catalog over HTTP (the service's API only, not mounted in a host app). */
@Module({
  imports: [TiersModule],
  controllers: [TiersController],
})
export class TiersApiModule {}
