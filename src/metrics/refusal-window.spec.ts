import { RefusalWindow } from './refusal-window.js';

describe('RefusalWindow', () => {
  it('counts the last sixty minutes and forgets older ones', () => {
    const window = new RefusalWindow();
    const start = Date.UTC(2026, 0, 1, 12, 0, 0);
    window.record(start);
    window.record(start + 30 * 60_000);
    window.record(start + 30 * 60_000 + 1);
    expect(window.lastHour(start + 30 * 60_000)).toBe(3);
    expect(window.lastHour(start + 60 * 60_000)).toBe(2);
    // The slot of minute 0 is reused an hour later: the old count does not leak into the new one.
    window.record(start + 60 * 60_000);
    expect(window.lastHour(start + 60 * 60_000)).toBe(3);
    expect(window.lastHour(start + 200 * 60_000)).toBe(0);
  });
});
