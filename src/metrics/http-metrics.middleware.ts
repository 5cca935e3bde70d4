import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { Histogram } from 'prom-client';
import { MetricsRegistry } from './metrics.registry.js';
import { RefusalWindow } from './refusal-window.js';

/** The histogram lives in a provider: Nest builds middleware instances per binding, a metric must exist once. */
@Injectable()
export class HttpRequestDuration {
  readonly histogram: Histogram<'method' | 'route' | 'status_code'>;

  constructor(@Inject(MetricsRegistry) registry: MetricsRegistry) {
    this.histogram = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }
}

/** Times every request, labelled by route template (not raw path, which would explode cardinality) and status. */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(
    @Inject(HttpRequestDuration) private readonly duration: HttpRequestDuration,
    @Inject(RefusalWindow) private readonly refusals: RefusalWindow,
  ) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const stop = this.duration.histogram.startTimer();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      stop({ method: req.method, route, status_code: String(res.statusCode) });
      if (res.statusCode === 429) this.refusals.record();
    });
    next();
  }
}
