import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { RedisConnection } from '../redis/index.js';

@Injectable()
export class RedisHealthIndicator {
  constructor(
    @Inject(RedisConnection) private readonly redis: RedisConnection,
    @Inject(HealthIndicatorService) private readonly health: HealthIndicatorService,
  ) {}

  async isHealthy(key: string, timeoutMs = 1000) {
    const indicator = this.health.check(key);
    if (!this.redis) return indicator.up({ mode: 'in-memory' });
    if (this.redis.status !== 'ready') return indicator.down({ message: `redis is ${this.redis.status}` });
    try {
      const started = Date.now();
      await Promise.race([
        this.redis.ping(),
        new Promise((_, reject) => setTimeout(() => reject(new Error('ping timed out')), timeoutMs).unref()),
      ]);
      return indicator.up({ latencyMs: Date.now() - started });
    } catch (error) {
      return indicator.down({ message: (error as Error).message });
    }
  }
}
