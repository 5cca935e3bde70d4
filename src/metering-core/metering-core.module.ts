import { Module } from '@nestjs/common';
import { TiersModule } from '../tiers/index.js';
import { CostResolver } from './cost.resolver.js';
import { MeteringMetadataAccessor } from './metering.metadata-accessor.js';

/** Metering pieces other modules build on (`@Metered` metadata, request cost). */
@Module({
  imports: [TiersModule],
  providers: [MeteringMetadataAccessor, CostResolver],
  exports: [MeteringMetadataAccessor, CostResolver],
})
export class MeteringCoreModule {}
