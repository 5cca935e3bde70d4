export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  /** Store faults in a row (errors, or calls unanswered within the store timeout) that open the breaker. */
  faults: number;
  /** How long an open breaker refuses calls before it lets one probe through. */
  cooldownMs: number;
}

/**
 * Circuit breaker in front of the rate-limit store. Closed: every call goes to the store. After `faults`
 * faults in a row it opens: calls are not made (the failure mode decides at once) until the cooldown has
 * passed; then one probe call goes out (half-open; RateLimitService makes it a background ping) while the
 * others still fail fast. A probe answered in time closes it; a faulted probe opens it for another cooldown.
 * Any answer in time resets the fault count.
 */
export class StoreBreaker {
  private faultsInARow = 0;
  private openUntil: number | null = null;
  private probing = false;

  constructor(
    private readonly settings: BreakerSettings,
    private readonly clock: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.openUntil === null) return 'closed';
    return this.probing ? 'half-open' : 'open';
  }

  /** Whether a call may go to the store now, and whether it is the probe (the first call after the cooldown). */
  permit(): 'call' | 'probe' | null {
    if (this.openUntil === null) return 'call';
    if (this.probing || this.clock() < this.openUntil) return null;
    this.probing = true;
    return 'probe';
  }

  /** A call answered in time: the store works. Returns true when this closed the breaker. */
  succeeded(): boolean {
    const wasOpen = this.openUntil !== null;
    this.faultsInARow = 0;
    this.openUntil = null;
    this.probing = false;
    return wasOpen;
  }

  /** A call failed or went unanswered. Returns true when this opened a closed breaker. */
  failed(wasProbe: boolean): boolean {
    this.faultsInARow++;
    if (wasProbe && this.probing) {
      this.probing = false;
      this.openUntil = this.clock() + this.settings.cooldownMs;
      return false;
    }
    if (this.openUntil !== null || this.faultsInARow < this.settings.faults) return false;
    this.openUntil = this.clock() + this.settings.cooldownMs;
    return true;
  }
}
