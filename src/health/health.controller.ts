import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';
import { DatabaseReadiness } from '../database/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { HttpDrain } from './http-drain.js';
import { IngestHealthIndicator } from './ingest.health.js';
import { RedisHealthIndicator } from './redis.health.js';

@ApiExcludeController()
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(TypeOrmHealthIndicator) private readonly database: TypeOrmHealthIndicator,
    @Inject(RedisHealthIndicator) private readonly redis: RedisHealthIndicator,
    @Inject(IngestHealthIndicator) private readonly ingest: IngestHealthIndicator,
    @Inject(HttpDrain) private readonly drain: HttpDrain,
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(DatabaseReadiness) private readonly readiness: DatabaseReadiness,
  ) {}

  /** The process is up and serving HTTP. */
  @Get('live')
  live() {
    return { status: 'ok' };
  }

  /** Dependencies answer: send traffic here. */
  @Get('ready')
  @HealthCheck()
  ready() {
    if (this.drain.draining) {
      throw new ServiceUnavailableException({ status: 'shutting_down', error: 'shutting_down', message: 'This instance is shutting down.' });
    }
    if (!this.readiness.open) {
      // Started during a database outage: the database is being opened in the background.
      throw new ServiceUnavailableException({
        status: 'error',
        error: 'database_unavailable',
        message: 'The database is not reachable yet; it is being retried.',
        details: { database: { status: 'down', message: this.readiness.lastError ?? 'connecting' } },
      });
    }
    return this.health.check([
      () => this.database.pingCheck('database', { connection: this.dataSource, timeout: 1500 }),
      () => this.redis.isHealthy('redis'),
      () => this.ingest.isHealthy('ingest'),
    ]);
  }
}
