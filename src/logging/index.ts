// The logging module's public surface: other folders import only from here (enforced by the boundary lint).
export { JsonLogger } from './json.logger.js';
export { LogSink } from './log-sink.js';
export { LoggingModule } from './logging.module.js';
export { RequestLoggingMiddleware } from './request-logging.middleware.js';
