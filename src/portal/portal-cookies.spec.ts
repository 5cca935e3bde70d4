import { readCookie, sessionCookie } from './portal-cookies.js';

describe('portal session cookie', () => {
  it('is HttpOnly, SameSite=Strict and scoped to /portal; Secure over https', () => {
    expect(sessionCookie('abc', { secure: false, maxAgeSeconds: 43200 })).toBe('tg_portal_session=abc; Path=/portal; Max-Age=43200; HttpOnly; SameSite=Strict');
    expect(sessionCookie('abc', { secure: true, maxAgeSeconds: 10.7 })).toBe('tg_portal_session=abc; Path=/portal; Max-Age=10; HttpOnly; SameSite=Strict; Secure');
  });

  it('is read from a Cookie header among others', () => {
    expect(readCookie('a=1; tg_portal_session=tok-en_1; b=2', 'tg_portal_session')).toBe('tok-en_1');
    expect(readCookie('a=1', 'tg_portal_session')).toBeNull();
    expect(readCookie(undefined, 'tg_portal_session')).toBeNull();
    expect(readCookie('tg_portal_session=%E0%A4%A', 'tg_portal_session')).toBeNull();
  });
});
