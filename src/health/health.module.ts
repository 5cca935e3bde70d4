import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller.js';
import { HttpDrain } from './http-drain.js';
import { IngestHealthIndicator } from './ingest.health.js';
import { UsageModule } from '../metering/index.js';
import { RedisHealthIndicator } from './redis.health.js';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), UsageModule],
  controllers: [HealthController],
  providers: [RedisHealthIndicator, IngestHealthIndicator, HttpDrain],
  exports: [HttpDrain],
})
export class HealthModule {}
