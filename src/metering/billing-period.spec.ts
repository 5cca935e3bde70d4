import { calendarMonth, eventPeriod, periodContaining, periodFromQuery } from './billing-period.js';

const d = (iso: string) => new Date(iso);

describe('billing periods', () => {
  it('are UTC calendar months without a subscription', () => {
    expect(calendarMonth(d('2026-11-23T10:00:00Z'))).toEqual({ start: d('2026-11-01T00:00:00Z'), end: d('2026-12-01T00:00:00Z') });
    expect(periodContaining(d('2026-12-31T23:59:59.999Z'), null).end).toEqual(d('2027-01-01T00:00:00Z'));
  });

  it('follow the Stripe anchor when subscribed, before and after the known period', () => {
    const anchor = { start: d('2026-11-15T08:00:00Z'), end: d('2026-12-15T08:00:00Z') };
    expect(periodContaining(d('2026-11-20T00:00:00Z'), anchor)).toEqual(anchor);
    expect(periodContaining(d('2026-11-15T07:59:59Z'), anchor)).toEqual({ start: d('2026-10-15T08:00:00Z'), end: d('2026-11-15T08:00:00Z') });
    expect(periodContaining(d('2027-01-20T00:00:00Z'), anchor)).toEqual({ start: d('2027-01-15T08:00:00Z'), end: d('2027-02-15T08:00:00Z') });
  });

  it('clamp a day-31 anchor to short months', () => {
    const anchor = { start: d('2027-01-31T00:00:00Z'), end: d('2027-02-28T00:00:00Z') };
    expect(periodContaining(d('2027-03-01T00:00:00Z'), anchor)).toEqual({ start: d('2027-02-28T00:00:00Z'), end: d('2027-03-31T00:00:00Z') });
  });

  it('parse current and YYYY-MM', () => {
    expect(periodFromQuery('2026-10', null)).toEqual({ start: d('2026-10-01T00:00:00Z'), end: d('2026-11-01T00:00:00Z') });
    expect(periodFromQuery('current', null, d('2026-11-23T00:00:00Z'))?.start).toEqual(d('2026-11-01T00:00:00Z'));
    expect(periodFromQuery('2026-13', null)).toBeNull();
    expect(periodFromQuery('last', null)).toBeNull();
    const anchor = { start: d('2026-11-15T08:00:00Z'), end: d('2026-12-15T08:00:00Z') };
    expect(periodFromQuery('2026-10', anchor)?.start).toEqual(d('2026-10-15T08:00:00Z'));
  });
});

describe('billing periods stepped from the anchor (Stripe: Jan 31 → Feb 28/29 → Mar 31)', () => {
  it('keep day 31 through a short month, whichever period is the known one', () => {
    // The subscription's stored period may be the clamped one: Feb 28 → Mar 31 (anchor day 31).
    const clamped = { start: d('2027-02-28T09:30:00Z'), end: d('2027-03-31T09:30:00Z') };
    expect(periodContaining(d('2027-04-15T00:00:00Z'), clamped)).toEqual({ start: d('2027-03-31T09:30:00Z'), end: d('2027-04-30T09:30:00Z') });
    expect(periodContaining(d('2027-05-01T00:00:00Z'), clamped)).toEqual({ start: d('2027-04-30T09:30:00Z'), end: d('2027-05-31T09:30:00Z') });
    expect(periodContaining(d('2027-02-01T00:00:00Z'), clamped)).toEqual({ start: d('2027-01-31T09:30:00Z'), end: d('2027-02-28T09:30:00Z') });
    const january = { start: d('2028-01-31T00:00:00Z'), end: d('2028-02-29T00:00:00Z') };
    expect(periodContaining(d('2028-03-30T00:00:00Z'), january)).toEqual({ start: d('2028-02-29T00:00:00Z'), end: d('2028-03-31T00:00:00Z') });
    // A day-30 anchor is not day 31: Apr 30 → May 30.
    const thirtieth = { start: d('2027-04-30T00:00:00Z'), end: d('2027-05-30T00:00:00Z') };
    expect(periodContaining(d('2027-06-01T00:00:00Z'), thirtieth)).toEqual({ start: d('2027-05-30T00:00:00Z'), end: d('2027-06-30T00:00:00Z') });
  });

  it('step yearly plans by years (Feb 29 → Feb 28 → … → Feb 29)', () => {
    const leap = { start: d('2028-02-29T00:00:00Z'), end: d('2029-02-28T00:00:00Z') };
    expect(periodContaining(d('2031-06-01T00:00:00Z'), leap)).toEqual({ start: d('2031-02-28T00:00:00Z'), end: d('2032-02-29T00:00:00Z') });
  });

  it('never throw: far past and future dates, invalid anchors and dates get a sane period', () => {
    const anchor = { start: d('2026-11-15T08:00:00Z'), end: d('2026-12-15T08:00:00Z') };
    expect(periodContaining(d('1970-01-20T00:00:00Z'), anchor)).toEqual({ start: d('1970-01-15T08:00:00Z'), end: d('1970-02-15T08:00:00Z') });
    expect(periodContaining(d('9999-12-20T00:00:00Z'), anchor)).toEqual({ start: d('9999-12-15T08:00:00Z'), end: d('+010000-01-15T08:00:00Z') });
    const ancient = periodContaining(d('0042-03-20T00:00:00Z'), anchor);
    expect(ancient.start.toISOString()).toBe('0042-03-15T08:00:00.000Z');
    const edge = periodContaining(new Date(8.64e15), anchor);
    expect(edge.start.getTime()).toBeLessThanOrEqual(8.64e15);
    expect(Number.isNaN(edge.end.getTime())).toBe(false);
    for (const bad of [
      { start: new Date(NaN), end: d('2026-12-15T08:00:00Z') },
      { start: d('2026-12-15T08:00:00Z'), end: d('2026-11-15T08:00:00Z') },
      { start: d('2026-12-15T08:00:00Z'), end: d('2026-12-16T08:00:00Z') },
    ]) {
      expect(periodContaining(d('2026-11-23T10:00:00Z'), bad)).toEqual({ start: d('2026-11-01T00:00:00Z'), end: d('2026-12-01T00:00:00Z') });
    }
    const now = periodContaining(new Date(NaN), anchor);
    expect(now.start.getTime()).toBeLessThanOrEqual(Date.now());
    expect(now.end.getTime()).toBeGreaterThan(Date.now());
  });

  it('parse YYYY-MM with a day-31 anchor to the period starting that month', () => {
    const clamped = { start: d('2027-02-28T00:00:00Z'), end: d('2027-03-31T00:00:00Z') };
    expect(periodFromQuery('2027-06', clamped)).toEqual({ start: d('2027-06-30T00:00:00Z'), end: d('2027-07-31T00:00:00Z') });
    expect(periodFromQuery('2027-07', clamped)?.start).toEqual(d('2027-07-31T00:00:00Z'));
  });
});

describe('eventPeriod', () => {
  const ended = { start: new Date('2026-10-31T10:00:00Z'), end: new Date('2026-11-30T10:00:00Z') };

  it('counts a late event of a cancelled subscription’s last period in that period', () => {
    expect(eventPeriod(new Date('2026-11-30T09:57:00Z'), null, ended)).toEqual(ended);
  });

  it('counts events after the end, or with a subscription running, as the current billing does', () => {
    expect(eventPeriod(new Date('2026-11-30T10:00:00Z'), null, ended)).toEqual(calendarMonth(new Date('2026-11-30T10:00:00Z')));
    expect(eventPeriod(new Date('2026-10-30T10:00:00Z'), null, ended)).toEqual(calendarMonth(new Date('2026-10-30T10:00:00Z')));
    const anchor = { start: new Date('2026-12-05T00:00:00Z'), end: new Date('2027-01-05T00:00:00Z') };
    expect(eventPeriod(new Date('2026-11-30T09:57:00Z'), anchor, ended)).toEqual(periodContaining(new Date('2026-11-30T09:57:00Z'), anchor));
  });
});
