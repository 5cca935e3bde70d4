/** A half-open billing period [start, end). */
export interface BillingPeriod {
  start: Date;
  end: Date;
}

const isValidDate = (date: Date | null | undefined): date is Date => date instanceof Date && !Number.isNaN(date.getTime());

/** Midnight UTC of a day; unlike Date.UTC, years 0–99 stay years 0–99 (month and day may overflow). */
function utcDay(year: number, month: number, day: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date;
}

/** The calendar month `at` falls in, UTC. An invalid date is read as "now" (never a NaN period). */
export function calendarMonth(at: Date): BillingPeriod {
  const when = isValidDate(at) ? at : new Date();
  const start = utcDay(when.getUTCFullYear(), when.getUTCMonth(), 1);
  const end = utcDay(when.getUTCFullYear(), when.getUTCMonth() + 1, 1);
  // Past the last representable month (year 275760): the month still is a sane, finite answer.
  return isValidDate(end) ? { start, end } : calendarMonth(new Date());
}

/**
 * How a subscription's periods are laid out, recovered from one known period: Stripe steps whole intervals
 * from the billing_cycle_anchor, keeping its time of day, and a day the month lacks becomes the month's last
 * day ("a subscription with a billing cycle anchor of January 31 bills on the last day of months with fewer
 * days: February 28 (or 29), then March 31", subscriptions/billing-cycle). A period clamps at most one of its
 * two ends (of two consecutive months one has 31 days), so the anchor day is the larger of the two days.
 */
interface Cycle {
  /** Months per period (1, or 12 for yearly plans). */
  months: number;
  /** The anchor's day of month (29–31 are clamped in shorter months). */
  day: number;
  /** Year × 12 + month of the known period's start. */
  baseMonth: number;
  /** Milliseconds into the day of every boundary. */
  timeOfDay: number;
}

const monthIndex = (date: Date) => date.getUTCFullYear() * 12 + date.getUTCMonth();

function cycleOf(anchor: BillingPeriod): Cycle | null {
  if (!isValidDate(anchor.start) || !isValidDate(anchor.end) || anchor.end <= anchor.start) return null;
  const months = monthIndex(anchor.end) - monthIndex(anchor.start);
  if (months < 1) return null; // not a monthly (or longer) period: not something these steps describe
  const timeOfDay = anchor.start.getTime() - utcDay(anchor.start.getUTCFullYear(), anchor.start.getUTCMonth(), anchor.start.getUTCDate()).getTime();
  return { months, day: Math.max(anchor.start.getUTCDate(), anchor.end.getUTCDate()), baseMonth: monthIndex(anchor.start), timeOfDay };
}

/** The boundary `k` periods from the known period's start: stepped from the anchor, never from the previous period. */
function boundary(cycle: Cycle, k: number): Date {
  const month = cycle.baseMonth + k * cycle.months;
  const year = Math.floor(month / 12);
  const monthOfYear = month - year * 12;
  const lastDay = utcDay(year, monthOfYear + 1, 0).getUTCDate();
  return new Date(utcDay(year, monthOfYear, Math.min(cycle.day, lastDay)).getTime() + cycle.timeOfDay);
}

/**
 * The period containing `at`: the customer's Stripe billing period when subscribed (stepped from its anchor,
 * as Stripe does — day 31 falls back to a short month's last day and comes back after it), else the UTC
 * calendar month. Never throws (it is on the request path): an invalid anchor counts as none, an invalid
 * `at` as now, and a date too far out to step to falls back to its calendar month.
 */
export function periodContaining(at: Date, anchor: BillingPeriod | null): BillingPeriod {
  const when = isValidDate(at) ? at : new Date();
  const cycle = anchor ? cycleOf(anchor) : null;
  if (!cycle) return calendarMonth(when);
  // An estimate from the month difference, then at most a step or two either way.
  let k = Math.floor((monthIndex(when) - cycle.baseMonth) / cycle.months);
  for (let guard = 0; guard < 4; guard++) {
    const start = boundary(cycle, k);
    const end = boundary(cycle, k + 1);
    if (!isValidDate(start) || !isValidDate(end)) break;
    if (when < start) k -= 1;
    else if (when >= end) k += 1;
    else return { start, end };
  }
  return calendarMonth(when);
}

/** `current` or `YYYY-MM` (the period that starts in that month). */
export function periodFromQuery(query: string, anchor: BillingPeriod | null, now = new Date()): BillingPeriod | null {
  if (query === 'current') return periodContaining(now, anchor);
  const match = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(query);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  const cycle = anchor ? cycleOf(anchor) : null;
  if (!cycle) return calendarMonth(utcDay(year, month, 1));
  const lastDay = utcDay(year, month + 1, 0).getUTCDate();
  // The period that starts on the cycle's day of that month (or, for yearly cycles, contains it).
  return periodContaining(new Date(utcDay(year, month, Math.min(cycle.day, lastDay)).getTime() + cycle.timeOfDay), anchor);
}

/**
 * The period an event that happened at `at` counts in: the current billing's (periodContaining), except that an
 * event from inside the period a subscription ended in, while no subscription runs, counts in that period — a
 * late event of a cancelled subscription's last period still belongs on its final invoice, not in a calendar month.
 */
export function eventPeriod(at: Date, anchor: BillingPeriod | null, ended: BillingPeriod | null): BillingPeriod {
  if (!anchor && ended && isValidDate(at) && at >= ended.start && at < ended.end) return ended;
  return periodContaining(at, anchor);
}
