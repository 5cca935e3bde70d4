export type Settled<T> = { value: T } | { error: unknown } | { timedOut: true };

/** The deadline is checked in this many steps; a step that fired late counts as one step, not as its lateness. */
const STEPS = 10;

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
    let timer: NodeJS.Timeout | undefined;
    const finish = (outcome: Settled<T>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    promise.then(
      (value) => finish({ value }),
      (error: unknown) => finish({ error }),
    );
    const step = Math.max(1, ms / STEPS);
    let waited = 0;
    let last = performance.now();
    const tick = () => {
      const now = performance.now();
      waited += Math.min(now - last, step);
      last = now;
      if (waited >= ms - 0.5) setImmediate(() => finish({ timedOut: true }));
      else timer = setTimeout(tick, Math.min(step, ms - waited));
    };
    timer = setTimeout(tick, step);
  });
}
