import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CustomersModule } from '../customers/index.js';
import { TOLLGATE_CONNECTION } from '../database/index.js';
import { TiersModule } from '../tiers/index.js';
import { ApiKeyCache } from './api-key.cache.js';
import { ApiKeyEntity } from './api-key.entity.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { ApiKeysMetadataAccessor } from './api-keys.metadata-accessor.js';
import { ApiKeysService } from './api-keys.service.js';
import { KeyInvalidationBus } from './key-invalidation.bus.js';
import { KeyUsageCap } from './key-usage-cap.js';
import { LastUsedTracker } from './last-used.tracker.js';
import { TierGuard } from './tier.guard.js';

@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity], TOLLGATE_CONNECTION), CustomersModule, TiersModule],
  // TierGuard runs on the consumer ApiKeyGuard resolved, so it lives here (tiers stays below api-keys).
  providers: [ApiKeysService, KeyUsageCap, ApiKeyCache, KeyInvalidationBus, LastUsedTracker, ApiKeysMetadataAccessor, ApiKeyGuard, TierGuard],
  exports: [ApiKeysService, KeyUsageCap, ApiKeyGuard, TierGuard, ApiKeysMetadataAccessor, LastUsedTracker],
})
export class ApiKeysModule {}
