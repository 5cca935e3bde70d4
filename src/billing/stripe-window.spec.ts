import { pushTimestamp, stripeWindow } from './stripe-window.js';

const at = (iso: string) => new Date(iso);
const period = { start: at('2026-01-31T10:00:30Z'), end: at('2026-02-28T10:00:30Z') };

describe('stripeWindow / pushTimestamp', () => {
  it('keeps pushes on whole minutes inside the period', () => {
    expect(stripeWindow(period)).toEqual({ start: at('2026-01-31T10:01:00Z'), end: at('2026-02-28T10:00:00Z') });
    expect(pushTimestamp(period, Date.parse('2026-02-10T12:34:56Z'))).toEqual(at('2026-02-10T12:34:00Z'));
    // A closed period: its last whole minute; a push before the window opens: its first minute.
    expect(pushTimestamp(period, Date.parse('2026-03-01T00:00:00Z'))).toEqual(at('2026-02-28T09:59:00Z'));
    expect(pushTimestamp(period, Date.parse('2026-01-31T10:00:40Z'))).toEqual(at('2026-01-31T10:01:00Z'));
  });

  it('stamps a push made after a tier change on or after the change, even within the change’s minute', () => {
    const change = at('2026-02-10T12:34:12Z');
    expect(pushTimestamp(period, Date.parse('2026-02-10T12:34:40Z'), change)).toEqual(at('2026-02-10T12:35:00Z'));
    // Later minutes are unaffected.
    expect(pushTimestamp(period, Date.parse('2026-02-10T13:00:40Z'), change)).toEqual(at('2026-02-10T13:00:00Z'));
    // A change on a whole minute: that minute is already the new segment's.
    expect(pushTimestamp(period, Date.parse('2026-02-10T12:34:40Z'), at('2026-02-10T12:34:00Z'))).toEqual(at('2026-02-10T12:34:00Z'));
  });
});
