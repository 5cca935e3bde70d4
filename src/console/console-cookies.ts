/** The console's session cookie: a random token, scoped to /console (the portal's cookie never reaches it, nor the reverse). */
export const CONSOLE_COOKIE = 'tg_console_session';

/** The value of cookie `name` in a Cookie header (the first one), or null. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0 || part.slice(0, index).trim() !== name) continue;
    return part.slice(index + 1).trim();
  }
  return null;
}

/** `HttpOnly` (no script reads it), `SameSite=Strict` (no cross-site request carries it), `Secure` over https. */
export function consoleCookie(token: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  return [
    `${CONSOLE_COOKIE}=${token}`,
    'Path=/console',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
