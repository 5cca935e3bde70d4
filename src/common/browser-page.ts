import { ForbiddenException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { Request, Response } from 'express';

/**
 * What the service's browser pages (developer portal, operator console) share: one strict set of security headers
 * and one same-origin check for their cookie-session JSON APIs. Written once: a fix to either must reach both pages.
 */

/** Only this origin's scripts, styles, images and calls; no framing; no inline code (the pages have none). */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** Security headers for everything under a page's prefix; its JSON API's answers (secrets, CSRF token) are never cached. */
export function setPageSecurityHeaders(request: Request, response: Response, apiPrefix: string): void {
  response.setHeader('Content-Security-Policy', PAGE_CSP);
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  if (request.originalUrl.startsWith(apiPrefix)) response.setHeader('Cache-Control', 'no-store');
}

/**
 * Refuses requests another site made the browser send: `Sec-Fetch-Site` (every current browser sends it) must be
 * same-origin, and an `Origin` header must name this host (or the public URL's). Requests with neither (curl, tests)
 * pass: they carry no ambient cookie from a victim's browser. `page` names the page in the refusal ("Portal").
 */
export function assertPageOrigin(request: Request, publicUrl: string | null, page: string): void {
  const refusal = () => new ForbiddenException({ error: 'cross_site_request', message: `${page} calls must come from the ${page.toLowerCase()} page itself.` });
  const site = request.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') throw refusal();
  const origin = request.header('origin');
  if (origin === undefined) return;
  const allowed = new Set([request.host]);
  if (publicUrl) allowed.add(new URL(publicUrl).host);
  let host: string | null;
  try {
    host = origin === 'null' ? null : new URL(origin).host;
  } catch {
    host = null;
  }
  if (!host || !allowed.has(host)) throw refusal();
}

/** Sign-in calls carry no session yet: same origin, and JSON only (an HTML form on another site cannot send JSON). */
export function assertPageSignIn(request: Request, publicUrl: string | null, page: string): void {
  assertPageOrigin(request, publicUrl, page);
  if (!request.is('application/json')) {
    throw new UnsupportedMediaTypeException({ error: 'unsupported_media_type', message: 'Send the request body as application/json.' });
  }
}
