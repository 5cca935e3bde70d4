import { Module } from '@nestjs/common';
import { TiersMetadataAccessor } from './tiers.metadata-accessor.js';
import { TiersService } from './tiers.service.js';

@Module({
  providers: [TiersService, TiersMetadataAccessor],
  exports: [TiersService, TiersMetadataAccessor],
})
export class TiersModule {}
