import { calendarMonth, periodContaining, periodFromQuery } from './billing-period.js';

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
