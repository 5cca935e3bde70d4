import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { loadOptionalPeer } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { RedisConnection } from './redis.connection.js';

export async function createRedisClient(url: string, name: string): Promise<Redis> {
  const logger = new Logger('Redis');
  // An optional peer: only a configured Redis (redisUrl) needs it.
  const { Redis } = await loadOptionalPeer('ioredis', 'Redis (the redisUrl option, REDIS_URL)', () => import('ioredis'));
  const client = new Redis(url, {
    connectionName: name,
    // Fail fast instead of queueing commands while Redis is away: callers decide (fail-open / fail-closed).
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    // Keep reconnecting with a capped backoff; Redis coming back must heal the service without a restart.
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 3000),
    // Commands issued in the same tick (the rate-limit checks of requests that arrived together) share one
    // socket write: under load this saves a syscall per request.
    enableAutoPipelining: true,
  });
  let reported = false;
  client.on('error', (error: Error) => {
    if (!reported) logger.warn(`connection problem: ${error.message}`);
    reported = true;
  });
  client.on('ready', () => {
    if (reported) logger.log('connection restored');
    reported = false;
  });
  return client;
}

class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(RedisConnection) private readonly redis: RedisConnection) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.redis) return;
    // QUIT lets pending replies arrive; a client that is not connected is just stopped (no more reconnects).
    if (this.redis.status === 'ready') {
      await this.redis.quit().catch(() => this.redis?.disconnect(false));
    } else {
      this.redis.disconnect(false);
    }
  }
}

@Global()
@Module({
  providers: [
    {
      provide: RedisConnection,
      inject: [TollgateConfig],
      useFactory: async (config: TollgateConfig): Promise<RedisConnection> =>
        config.redisUrl ? await createRedisClient(config.redisUrl, 'tollgate') : null,
    },
    RedisCloser,
  ],
  exports: [RedisConnection],
})
export class RedisModule {}
