import { Inject, Injectable, Logger } from '@nestjs/common';
import { TollgateConfig } from '../config/tollgate-config.js';
import { type RateLimitDecision, type RateLimitRequest, RateLimitStorage } from './rate-limit.storage.js';

export type RateLimitOutcome = { decided: RateLimitDecision } | { unavailable: string };

const WARN_EVERY_MS = 10_000;

/** Asks the store, but never waits longer than the configured budget (50 ms): then the failure mode decides. */
@Injectable()
export class RateLimitService {
  private readonly logger = new Logger('RateLimit');
  private lastWarning = 0;

  constructor(
    @Inject(RateLimitStorage) private readonly storage: RateLimitStorage,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  get failureMode(): 'open' | 'closed' {
    return this.config.rateLimitFailureMode;
  }

  async consume(request: RateLimitRequest): Promise<RateLimitOutcome> {
    if (!this.storage.remote) return { decided: await this.storage.consume(request) };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.config.rateLimitTimeoutMs} ms`)), this.config.rateLimitTimeoutMs);
    });
    try {
      return { decided: await Promise.race([this.storage.consume(request), timeout]) };
    } catch (error) {
      const reason = (error as Error).message;
      if (Date.now() - this.lastWarning > WARN_EVERY_MS) {
        this.lastWarning = Date.now();
        this.logger.warn(`rate-limit store unavailable (${reason}); failing ${this.failureMode}`);
      }
      return { unavailable: reason };
    } finally {
      clearTimeout(timer);
    }
  }
}
