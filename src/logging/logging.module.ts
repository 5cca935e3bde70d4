import { type DynamicModule, Global, Module } from '@nestjs/common';
import { JsonLogger } from './json.logger.js';
import { LogSink, StdoutLogSink } from './log-sink.js';
import { RequestLoggingMiddleware } from './request-logging.middleware.js';

@Global()
@Module({})
export class LoggingModule {
  static forRoot(sink: LogSink = new StdoutLogSink()): DynamicModule {
    return {
      module: LoggingModule,
      providers: [{ provide: LogSink, useValue: sink }, JsonLogger, RequestLoggingMiddleware],
      exports: [JsonLogger, RequestLoggingMiddleware],
    };
  }
}
