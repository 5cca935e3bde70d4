/** A half-open billing period [start, end). */
export interface BillingPeriod {
  start: Date;
  end: Date;
}

function addMonthsUtc(date: Date, months: number, anchorDay: number): Date {
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(year, month, Math.min(anchorDay, lastDay), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()),
  );
}

export function calendarMonth(at: Date): BillingPeriod {
  const start = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
  const end = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  return { start, end };
}

/**
 * The period containing `at`: the customer's Stripe billing period when subscribed (monthly, stepped from
 * its anchor, as Stripe does — day 31 falls back to the month's last day), else the UTC calendar month.
 */
export function periodContaining(at: Date, anchor: BillingPeriod | null): BillingPeriod {
  if (!anchor) return calendarMonth(at);
  const anchorDay = anchor.start.getUTCDate();
  let offset = 0;
  // Step whole months from the known period; a few iterations at most for any sane timestamp.
  for (let i = 0; i < 1200; i++) {
    const start = addMonthsUtc(anchor.start, offset, anchorDay);
    const end = offset === 0 ? anchor.end : addMonthsUtc(anchor.start, offset + 1, anchorDay);
    if (at < start) offset -= 1;
    else if (at >= end) offset += 1;
    else return { start, end };
  }
  throw new RangeError(`no billing period found for ${at.toISOString()}`);
}

/** `current` or `YYYY-MM` (the period that starts in that month). */
export function periodFromQuery(query: string, anchor: BillingPeriod | null, now = new Date()): BillingPeriod | null {
  if (query === 'current') return periodContaining(now, anchor);
  const match = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(query);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  if (!anchor) return calendarMonth(new Date(Date.UTC(year, month, 1)));
  const day = Math.min(anchor.start.getUTCDate(), new Date(Date.UTC(year, month + 1, 0)).getUTCDate());
  const a = anchor.start;
  return periodContaining(new Date(Date.UTC(year, month, day, a.getUTCHours(), a.getUTCMinutes(), a.getUTCSeconds(), a.getUTCMilliseconds())), anchor);
}
