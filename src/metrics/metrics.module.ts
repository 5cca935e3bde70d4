import { Global, Module } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { HttpMetricsMiddleware, HttpRequestDuration } from './http-metrics.middleware.js';
import { MetricsController } from './metrics.controller.js';
import { MetricsRegistry } from './metrics.registry.js';
import { RefusalWindow } from './refusal-window.js';

@Global()
@Module({
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
  ],
  exports: [MetricsRegistry, HttpRequestDuration, HttpMetricsMiddleware, RefusalWindow],
})
export class MetricsModule {}
