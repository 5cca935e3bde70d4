import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { TollgateConfig } from '../config/index.js';
import { BLOCKED_CUSTOMER_STATUSES } from '../customers/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { RedisConnection } from '../redis/index.js';
import { ApiKeyCache } from './api-key.cache.js';

const POLL_INTERVAL_MS = 400;
/** Re-read changes this far back: a transaction may commit after a poll that already passed its updated_at. */
const POLL_OVERLAP_MS = 2_000;

interface InvalidationMessage {
  hash?: string;
  customerId?: string;
}

/**
 * Makes a revoked key (or a changed customer) stop working on every instance within a second:
 * Redis pub/sub when Redis is configured (milliseconds), plus polling the database for rows changed
 * since the last look — the only path without Redis, and a safety net for missed messages with it.
 */
@Injectable()
export class KeyInvalidationBus implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('KeyInvalidation');
  private readonly channel: string;
  private subscriber: Redis | null = null;
  private timer: NodeJS.Timeout | null = null;
  private watermark: Date | null = null;
  private polling = false;

  constructor(
    @Inject(ApiKeyCache) private readonly cache: ApiKeyCache,
    @Inject(RedisConnection) private readonly redis: RedisConnection,
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(TollgateConfig) config: TollgateConfig,
  ) {
    this.channel = `${config.redisPrefix}:api-keys:invalidate`;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.redis) {
      // Subscriptions need their own connection; it queues SUBSCRIBE until connected and resubscribes after drops.
      this.subscriber = this.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, enableAutoPipelining: false });
      this.subscriber.on('error', () => undefined);
      this.subscriber.on('message', (_channel: string, message: string) => this.apply(message));
      void this.subscriber.subscribe(this.channel).catch((error: Error) => this.logger.warn(`subscribe failed: ${error.message}`));
    }
    await this.poll();
    this.timer = setInterval(() => void this.poll(), POLL_INTERVAL_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.subscriber?.disconnect(false);
  }

  /** Evicts here at once and tells the other instances. */
  async publish(message: InvalidationMessage): Promise<void> {
    this.evict(message);
    if (this.redis?.status === 'ready') {
      await this.redis.publish(this.channel, JSON.stringify(message)).catch((error: Error) => {
        this.logger.warn(`publish failed, instances rely on polling: ${error.message}`);
      });
    }
  }

  private apply(raw: string): void {
    try {
      this.evict(JSON.parse(raw) as InvalidationMessage);
    } catch {
      this.logger.warn('ignored a malformed invalidation message');
    }
  }

  private evict(message: InvalidationMessage): void {
    if (message.hash) this.cache.evictKey(message.hash);
    if (message.customerId) this.cache.evictCustomer(message.customerId);
  }

  private async poll(): Promise<void> {
    if (this.polling || !this.dataSource.isInitialized) return;
    this.polling = true;
    try {
      const since = this.watermark ? new Date(this.watermark.getTime() - POLL_OVERLAP_MS) : null;
      // Revoked keys and blocked customers are dropped outright; other changes only expire the entry, keeping
      // the last known consumer for an outage (see ApiKeyCache.expireKey).
      const [row] = (await this.dataSource.query(
        `WITH keys AS (SELECT hash, revoked_at IS NOT NULL AS revoked FROM api_keys WHERE updated_at > $1),
              accounts AS (SELECT id, status = ANY($2::text[]) AS blocked FROM customers WHERE updated_at > $1)
         SELECT now() AS now,
           (SELECT coalesce(array_agg(hash) FILTER (WHERE NOT revoked), '{}') FROM keys) AS changed_keys,
           (SELECT coalesce(array_agg(hash) FILTER (WHERE revoked), '{}') FROM keys) AS revoked_keys,
           (SELECT coalesce(array_agg(id) FILTER (WHERE NOT blocked), '{}') FROM accounts) AS changed_customers,
           (SELECT coalesce(array_agg(id) FILTER (WHERE blocked), '{}') FROM accounts) AS blocked_customers`,
        [since, [...BLOCKED_CUSTOMER_STATUSES]],
      )) as Array<{ now: Date; changed_keys: string[]; revoked_keys: string[]; changed_customers: string[]; blocked_customers: string[] }>;
      for (const hash of row.revoked_keys) this.cache.evictKey(hash);
      for (const customerId of row.blocked_customers) this.cache.evictCustomer(customerId);
      for (const hash of row.changed_keys) this.cache.expireKey(hash);
      for (const customerId of row.changed_customers) this.cache.expireCustomer(customerId);
      this.watermark = new Date(row.now);
    } catch (error) {
      this.logger.warn(`poll failed: ${(error as Error).message}`);
    } finally {
      this.polling = false;
    }
  }
}
