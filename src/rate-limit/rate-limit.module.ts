import { Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { TollgateConfig } from '../config/index.js';
import { MeteringCoreModule } from '../metering-core/index.js';
import { RedisConnection } from '../redis/index.js';
import { TiersModule } from '../tiers/index.js';
import { MemoryRateLimitStorage } from './memory-rate-limit.storage.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RateLimitMetadataAccessor } from './rate-limit.metadata-accessor.js';
import { RateLimitService } from './rate-limit.service.js';
import { HOST_RATE_LIMIT_STORAGE, RateLimitStorage } from './rate-limit.storage.js';
import { RedisRateLimitStorage } from './redis-rate-limit.storage.js';
import { ThrottlerStorageAdapter } from './throttler-storage.adapter.js';

const storageProvider = {
  provide: RateLimitStorage,
  inject: [TollgateConfig, RedisConnection, { token: HOST_RATE_LIMIT_STORAGE, optional: true }],
  useFactory: (config: TollgateConfig, redis: RedisConnection, host?: RateLimitStorage | null): RateLimitStorage =>
    host ?? (redis ? new RedisRateLimitStorage(redis, config.redisPrefix) : new MemoryRateLimitStorage()),
};

@Module({
  providers: [storageProvider, RateLimitService],
  exports: [storageProvider, RateLimitService],
})
class RateLimitStorageModule {}

@Module({
  imports: [
    RateLimitStorageModule,
    MeteringCoreModule,
    TiersModule,
    ThrottlerModule.forRootAsync({
      imports: [RateLimitStorageModule],
      inject: [RateLimitService],
      // A default throttler with no limit: consumers get their tier's limits; @Throttle({ default: … })
      // on a route still limits it (anonymous callers per IP, consumers per customer).
      useFactory: (rateLimits: RateLimitService) => ({
        throttlers: [{ name: 'default', ttl: 60_000, limit: Number.POSITIVE_INFINITY }],
        storage: new ThrottlerStorageAdapter(rateLimits),
      }),
    }),
  ],
  providers: [RateLimitMetadataAccessor, RateLimitGuard],
  // Guards named in @UseGuards are built in the using module: everything they inject must be visible there.
  exports: [RateLimitGuard, RateLimitMetadataAccessor, RateLimitStorageModule, ThrottlerModule, MeteringCoreModule, TiersModule],
})
export class RateLimitModule {}
