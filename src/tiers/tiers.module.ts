import { Module } from '@nestjs/common';
import { TierGuard } from './tier.guard.js';
import { TiersMetadataAccessor } from './tiers.metadata-accessor.js';
import { TiersService } from './tiers.service.js';

@Module({
  providers: [TiersService, TiersMetadataAccessor, TierGuard],
  exports: [TiersService, TiersMetadataAccessor, TierGuard],
})
export class TiersModule {}
