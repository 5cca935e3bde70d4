import { Inject, Injectable, Logger } from '@nestjs/common';
import { TollgateConfig } from '../config/index.js';
import { type HeaderSink, RATE_LIMITER_RETRY_AFTER_SECONDS } from '../common/index.js';
import { rateLimiterUnavailable, rateLimitExceeded, type RefusalWording } from './rate-limit.exceptions.js';
import { setRateLimitHeaders } from './rate-limit.headers.js';
import { type RateLimitDecision, type RateLimitRequest, RateLimitStorage } from './rate-limit.storage.js';
import { settleWithin } from './responsive-deadline.js';
import { type BreakerState, StoreBreaker } from './store.breaker.js';

export type RateLimitOutcome = { decided: RateLimitDecision } | { unavailable: string };

const WARN_EVERY_MS = 10_000;
/** A closed-mode 503 asks the client back after about one breaker cooldown (the default 1 s). */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = RATE_LIMITER_RETRY_AFTER_SECONDS;
const BREAKER_OPEN = 'circuit breaker open after repeated faults';

/**
 * Asks the store, and its answer decides, however late this process gets to read it. The failure mode
 * (open: admit, closed: 503) decides only on a real store fault: the client is not connected, the call
 * failed, the store left it unanswered for the store timeout (counted in time this process could have read
 * an answer, so our own event-loop lag never counts), or the breaker is open after repeated faults.
 * The in-memory store answers synchronously and is never unavailable.
 */
@Injectable()
export class RateLimitService {
  private readonly logger = new Logger('RateLimit');
  private readonly breaker: StoreBreaker;
  private lastWarning = 0;

  constructor(
    @Inject(RateLimitStorage) private readonly storage: RateLimitStorage,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {
    this.breaker = new StoreBreaker({ faults: config.rateLimitBreakerFaults, cooldownMs: config.rateLimitBreakerCooldownMs });
  }

  get failureMode(): 'open' | 'closed' {
    return this.config.rateLimitFailureMode;
  }

  /** The store's circuit breaker: `closed` while the store answers. */
  get breakerState(): BreakerState {
    return this.breaker.state;
  }

  consume(request: RateLimitRequest): Promise<RateLimitOutcome> {
    // Promise chains rather than async functions on this path: each async frame is a promise and a microtask more
    // per request (and more work for every async hook the host has enabled).
    if (!this.storage.remote) return this.storage.consume(request).then((decided) => ({ decided }));
    if (this.storage.available?.() === false) return Promise.resolve(this.unavailable('not connected'));
    const permit = this.breaker.permit();
    if (permit === 'probe' && this.storage.ping) {
      // A background round trip tests the store: no request waits on a store that may still be hung.
      void this.ask(() => this.storage.ping!(), true);
      return Promise.resolve(this.unavailable(BREAKER_OPEN));
    }
    if (!permit) return Promise.resolve(this.unavailable(BREAKER_OPEN));
    return this.ask(() => this.storage.consume(request), permit === 'probe').then((outcome) =>
      'value' in outcome ? { decided: outcome.value } : this.unavailable(outcome.reason),
    );
  }

  /** One call to the store, bounded by the store timeout (in responsive time), reported to the breaker. */
  private ask<T>(call: () => Promise<T>, probe: boolean): Promise<{ value: T } | { reason: string }> {
    let answer: Promise<T>;
    try {
      answer = call();
    } catch (error) {
      answer = Promise.reject(error); // a store that throws instead of rejecting faults the same way
    }
    return settleWithin(answer, this.config.rateLimitStoreTimeoutMs).then((outcome) => {
      if ('value' in outcome) {
        if (this.breaker.succeeded()) this.logger.log('rate-limit store answers again; circuit breaker closed');
        return outcome;
      }
      const reason =
        'timedOut' in outcome
          ? `no answer within ${this.config.rateLimitStoreTimeoutMs} ms`
          : outcome.error instanceof Error
            ? outcome.error.message
            : String(outcome.error);
      if (this.breaker.failed(probe)) {
        this.logger.warn(`rate-limit store faulted ${this.config.rateLimitBreakerFaults} times in a row (${reason}); circuit breaker open, failing ${this.failureMode}`);
      }
      return { reason };
    });
  }

  /**
   * Consumes and answers like every limited route: rate-limit headers, 429 `rate_limit_exceeded` with
   * `Retry-After` when refused, and on a store fault the failure mode (admit, or 503 `rate_limiter_unavailable`).
   */
  enforce(response: HeaderSink, request: RateLimitRequest, wording: RefusalWording | (() => RefusalWording) = {}): Promise<void> {
    return this.consume(request).then((outcome) => {
      if ('unavailable' in outcome) return this.failOver(response);
      setRateLimitHeaders(response, outcome.decided, request.policies);
      // The wording may be a function: built only for a refusal, not on every admitted request.
      if (!outcome.decided.allowed) throw rateLimitExceeded(outcome.decided, typeof wording === 'function' ? wording() : wording);
    });
  }

  /**
   * The store faulted: in `open` mode nothing happens (the request is admitted); in `closed` mode 503
   * `rate_limiter_unavailable` with `Retry-After`. Every limit that consults the store ends here, so they all agree.
   */
  failOver(response: HeaderSink): void {
    if (this.failureMode === 'open') return;
    response.setHeader('Retry-After', UNAVAILABLE_RETRY_AFTER_SECONDS);
    throw rateLimiterUnavailable();
  }

  private unavailable(reason: string): RateLimitOutcome {
    if (Date.now() - this.lastWarning > WARN_EVERY_MS) {
      this.lastWarning = Date.now();
      this.logger.warn(`rate-limit store unavailable (${reason}); failing ${this.failureMode}`);
    }
    return { unavailable: reason };
  }
}
