import type { BillingPeriod } from '../metering/index.js';

/**
 * The period's usage at its current run rate: what each counter will reach by the period's end if usage goes on as
 * it went so far (`used × period length ÷ time elapsed`, exact integers, rounded down). Priced by the same invoice
 * preview as the real counters, so a projection is never a second price computation. At or after the end, the
 * counters as they are.
 */
export function projectToPeriodEnd(usage: ReadonlyMap<string, bigint>, period: BillingPeriod, at: Date): Map<string, bigint> {
  const whole = BigInt(period.end.getTime() - period.start.getTime());
  const elapsed = BigInt(Math.max(1, at.getTime() - period.start.getTime()));
  const projected = new Map<string, bigint>();
  for (const [meter, used] of usage) projected.set(meter, elapsed >= whole || used <= 0n ? used : (used * whole) / elapsed);
  return projected;
}
