import { consoleCookie, cookieValue } from './console-cookies.js';

describe('console cookie', () => {
  it('is HttpOnly, SameSite=Strict and scoped to /console', () => {
    const cookie = consoleCookie('abc', { secure: false, maxAgeSeconds: 60 });
    expect(cookie.split('; ')).toEqual(['tg_console_session=abc', 'Path=/console', 'Max-Age=60', 'HttpOnly', 'SameSite=Strict']);
    expect(consoleCookie('abc', { secure: true, maxAgeSeconds: 60 })).toMatch(/; Secure$/);
  });

  it('reads its value among other cookies', () => {
    expect(cookieValue('a=1; tg_console_session=xyz; b=2', 'tg_console_session')).toBe('xyz');
    expect(cookieValue('tg_portal_session=xyz', 'tg_console_session')).toBeNull();
    expect(cookieValue(undefined, 'tg_console_session')).toBeNull();
  });
});
