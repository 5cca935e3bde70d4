// The metrics module's public surface: other folders import only from here (enforced by the boundary lint).
export { HttpMetricsMiddleware } from './http-metrics.middleware.js';
export { MetricsModule } from './metrics.module.js';
export { RefusalWindow } from './refusal-window.js';
