import type { BillingPeriod } from '../metering/index.js';

const MINUTE = 60_000;

/**
 * Stripe's meter event summaries take minute-aligned bounds. A billing period's bounds are arbitrary
 * seconds, so every event we push for a period is stamped on a whole minute inside [start↑, end↓), and the
 * summaries for that period are read over exactly that window: it holds all our events of the period and
 * none of a neighbour's.
 */
export function stripeWindow(period: BillingPeriod): { start: Date; end: Date } {
  return {
    start: new Date(Math.ceil(period.start.getTime() / MINUTE) * MINUTE),
    end: new Date(Math.floor(period.end.getTime() / MINUTE) * MINUTE),
  };
}

/**
 * The timestamp of a push: now (floored to the minute) if the period is open, else its last whole minute. A tier
 * change inside the period (`notBefore`) closed the old price's segment at that instant: Stripe bills an event by
 * its timestamp, so anything pushed after the change is stamped on or after it (its minute rounded up), never in
 * the closed segment, where it would be on no invoice.
 */
export function pushTimestamp(period: BillingPeriod, now = Date.now(), notBefore: Date | null = null): Date {
  const window = stripeWindow(period);
  const latest = window.end.getTime() - MINUTE;
  const current = Math.floor(now / MINUTE) * MINUTE;
  const earliest = Math.max(window.start.getTime(), notBefore === null ? 0 : Math.ceil(notBefore.getTime() / MINUTE) * MINUTE);
  return new Date(Math.max(earliest, Math.min(current, latest)));
}
