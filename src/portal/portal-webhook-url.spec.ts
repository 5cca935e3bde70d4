import { webhookUrlProblem } from './portal-webhook-url.js';
import { readCookie, sessionCookie } from './portal-cookies.js';

describe('portal webhook URLs', () => {
  it.each(['https://hooks.example.com/tollgate', 'http://api.example.org:8080/hooks?x=1', 'https://93.184.215.14/hook', 'https://[2606:4700::1111]/hook'])('accepts %s', (url) => {
    expect(webhookUrlProblem(url)).toBeNull();
  });

  it.each([
    ['not a url', 'absolute URL'],
    ['ftp://example.com/x', 'https://'],
    ['https://user:pw@example.com/x', 'user name'],
    ['http://localhost:3000/hook', 'public host'],
    ['http://intranet/hook', 'public host'],
    ['http://metadata.internal/x', 'public host'],
    ['http://127.0.0.1:9000/hook', 'public address'],
    ['http://2130706433/hook', 'public address'],
    ['http://10.1.2.3/hook', 'public address'],
    ['http://172.20.0.5/hook', 'public address'],
    ['http://192.168.1.1/hook', 'public address'],
    ['http://169.254.169.254/latest/meta-data', 'public address'],
    ['http://[::1]/hook', 'public address'],
    ['http://[::ffff:127.0.0.1]/hook', 'public address'],
    ['http://[fd00::1]/hook', 'public address'],
  ])('refuses %s', (url, reason) => {
    expect(webhookUrlProblem(url)).toContain(reason);
  });
});

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
