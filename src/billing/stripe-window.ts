import type { BillingPeriod } from '../metering/billing-period.js';

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

/** The timestamp of a push: now (floored to the minute) if the period is open, else its last whole minute. */
export function pushTimestamp(period: BillingPeriod, now = Date.now()): Date {
  const window = stripeWindow(period);
  const latest = window.end.getTime() - MINUTE;
  const current = Math.floor(now / MINUTE) * MINUTE;
  return new Date(Math.max(window.start.getTime(), Math.min(current, latest)));
}
