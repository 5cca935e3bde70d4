import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { InjectTollgateDataSource } from '../database/index.js';

const FLUSH_INTERVAL_MS = 10_000;

/**
 * `last_used_at` without a write per request: uses are noted in memory and flushed in one statement every
 * few seconds (and at shutdown). It does not touch `updated_at`, so it never invalidates caches.
 */
@Injectable()
export class LastUsedTracker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('LastUsedTracker');
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(@InjectTollgateDataSource() private readonly dataSource: DataSource) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  touch(keyId: string, at = Date.now()): void {
    this.pending.set(keyId, at);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.dataSource.query(
        `UPDATE api_keys k SET last_used_at = v.used_at
           FROM unnest($1::text[], $2::timestamptz[]) AS v(id, used_at)
          WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.used_at)`,
        [[...batch.keys()], [...batch.values()].map((at) => new Date(at).toISOString())],
      );
    } catch (error) {
      // Keep the newest timestamps for the next attempt rather than losing them.
      for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
      this.logger.warn(`could not record key usage: ${(error as Error).message}`);
    }
  }
}
