import { Global, Module } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { UsageModule } from '../metering/index.js';
import { HttpMetricsMiddleware, HttpRequestDuration } from './http-metrics.middleware.js';
import { IngestMetrics } from './ingest.metrics.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsRegistry } from './metrics.registry.js';
import { RefusalWindow } from './refusal-window.js';

@Global()
@Module({
  imports: [UsageModule],
  controllers: [MetricsController],
  providers: [
    {
      provide: MetricsRegistry,
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry });
        return registry;
      },
    },
    HttpRequestDuration,
    HttpMetricsMiddleware,
    RefusalWindow,
    IngestMetrics,
  ],
  exports: [MetricsRegistry, HttpRequestDuration, HttpMetricsMiddleware, RefusalWindow],
})
export class MetricsModule {}
