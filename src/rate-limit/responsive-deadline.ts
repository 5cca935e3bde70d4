export type Settled<T> = { value: T } | { error: unknown } | { timedOut: true };

/** The deadline is checked in this many steps; a step that fired late counts as one step, not as its lateness. */
const STEPS = 10;

interface Waiter {
  /** Responsive time waited so far, and when it was last counted. */
  waited: number;
  last: number;
  budget: number;
  expire: () => void;
}

/**
 * One timer per step length for every wait in progress, rather than a timer per request: a timer armed and cleared
 * on each rate-limited request was a measurable share of the request path's CPU (issue "Speed").
 */
class StepClock {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly step: number) {}

  add(waiter: Waiter): void {
    this.waiters.add(waiter);
    this.timer ??= setInterval(() => this.tick(), this.step);
  }

  remove(waiter: Waiter): void {
    this.waiters.delete(waiter);
    if (this.waiters.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const now = performance.now();
    for (const waiter of this.waiters) {
      // A tick that fired late (busy loop, process not scheduled) counts one step, not its lateness.
      waiter.waited += Math.min(now - waiter.last, this.step);
      waiter.last = now;
      if (waiter.waited >= waiter.budget - 0.5) {
        this.remove(waiter);
        // After the loop's I/O phase: an answer that has arrived is read first and wins.
        setImmediate(waiter.expire);
      }
    }
  }
}

const clocks = new Map<number, StepClock>();

function clockFor(step: number): StepClock {
  let clock = clocks.get(step);
  if (!clock) clocks.set(step, (clock = new StepClock(step)));
  return clock;
}

/**
 * Waits for `promise`, at most `ms` of *responsive* time: time in which this process could have read an answer.
 *
 * A plain timer cannot tell a silent server from a busy event loop: when a burst keeps the loop busy for longer
 * than the timer, the timer fires in the same loop turn in which the answer sits unread in the socket, and wins.
 * Here the wait advances in steps, and a step that fired late (the loop was busy, or the process was not
 * scheduled) counts only its nominal length. When the budget is used up, the verdict waits for `setImmediate`,
 * which runs after the loop's I/O phase: an answer that has arrived is read first and wins.
 */
export function settleWithin<T>(promise: Promise<T>, ms: number): Promise<Settled<T>> {
  return new Promise((resolve) => {
    let done = false;
    const clock = clockFor(Math.max(1, ms / STEPS));
    const finish = (outcome: Settled<T>) => {
      if (done) return;
      done = true;
      clock.remove(waiter);
      resolve(outcome);
    };
    const waiter: Waiter = { waited: 0, last: performance.now(), budget: ms, expire: () => finish({ timedOut: true }) };
    clock.add(waiter);
    promise.then(
      (value) => finish({ value }),
      (error: unknown) => finish({ error }),
    );
  });
}
