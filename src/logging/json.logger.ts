import { Inject, Injectable, type LoggerService } from '@nestjs/common';
import { pino, type Logger as PinoLogger } from 'pino';
import { TollgateConfig } from '../config/index.js';
import { LogSink } from './log-sink.js';
import { requestContext } from './request-context.js';

/**
 * Nest logger writing one JSON object per line (pino), tagged with the current request id.
 * Credentials are redacted by path as a second line of defence: code must not log them in the first place.
 */
@Injectable()
export class JsonLogger implements LoggerService {
  readonly pino: PinoLogger;

  constructor(@Inject(TollgateConfig) config: TollgateConfig, @Inject(LogSink) sink: LogSink) {
    this.pino = pino(
      {
        level: config.logLevel,
        base: { service: 'tollgate' },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        mixin: () => {
          const context = requestContext.getStore();
          return context ? { requestId: context.requestId } : {};
        },
        redact: {
          paths: ['*.authorization', '*["x-api-key"]', '*.apiKey', '*.secret', '*.token', '*.password', 'headers'],
          censor: '[redacted]',
        },
      },
      { write: (line: string) => sink.write(line) },
    );
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: 'info' | 'error' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, rest: unknown[]): void {
    // Nest passes the context (logger name) last, and for errors a stack before it.
    const args = [...rest];
    const context = typeof args[args.length - 1] === 'string' ? (args.pop() as string) : undefined;
    const stack = level === 'error' && typeof args[0] === 'string' ? (args.shift() as string) : undefined;
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    if (stack) fields.stack = stack;
    if (message instanceof Error) {
      fields.err = { type: message.name, message: message.message, stack: message.stack };
      this.pino[level](fields, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level]({ ...fields, ...message });
    } else {
      this.pino[level](fields, String(message));
    }
  }
}
