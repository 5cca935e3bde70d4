import { gcra } from './gcra.js';
import { policyKeys, type RateLimitDecision, type RateLimitRequest, type RateLimitStorage } from './rate-limit.storage.js';

const SWEEP_PER_CALL = 8;

/**
 * In-process storage for the embedded default (one instance). Memory stays bounded without timers:
 * each call looks at a few of the least recently touched entries and drops those whose budget is whole.
 */
export class MemoryRateLimitStorage implements RateLimitStorage {
  readonly remote = false;
  private readonly tats = new Map<string, number>();

  constructor(private readonly clock: () => number = Date.now) {}

  async consume(request: RateLimitRequest): Promise<RateLimitDecision> {
    const now = this.clock();
    this.sweep(now);
    const keys = policyKeys(request.bucket, '\u0000', request.policies);
    const { decision, newTats } = gcra(request.policies, keys.map((key) => this.tats.get(key)), request.cost, now);
    if (newTats) {
      keys.forEach((key, i) => {
        // Re-insert so the map stays ordered by last touch (oldest first) for the sweep.
        this.tats.delete(key);
        this.tats.set(key, newTats[i]);
      });
    }
    return decision;
  }

  get size(): number {
    return this.tats.size;
  }

  private sweep(now: number): void {
    // A live entry is moved to the back, where this loop would meet it again: look at the entries that were there.
    const toLook = Math.min(SWEEP_PER_CALL, this.tats.size);
    let looked = 0;
    for (const [key, tat] of this.tats) {
      if (looked++ >= toLook) break;
      this.tats.delete(key);
      if (tat > now) this.tats.set(key, tat);
    }
  }
}
