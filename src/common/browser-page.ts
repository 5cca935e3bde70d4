import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ForbiddenException, NotFoundException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { Request, Response } from 'express';

/**
 * What the service's browser pages (developer portal, operator console) share: their static files served from
 * memory, one strict set of security headers and one same-origin check for their cookie-session JSON APIs. Written
 * once: a fix to either must reach both pages.
 */

export interface PageAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/**
 * A page's static files, read once at start-up and served from memory with strong ETags. Only the files named in
 * `files` (name → content type) resolve: no path from a request touches the disk. `candidates` are the folders to
 * look in, in order (next to the module — src/ under Jest, dist/ once `npm run build` copied them — then the source
 * tree seen from dist/).
 */
export class PageAssets {
  private readonly files = new Map<string, PageAsset>();

  constructor(
    what: string,
    candidates: URL[],
    private readonly names: Record<string, string>,
  ) {
    const found = candidates.find((directory) => existsSync(new URL('index.html', directory)));
    if (!found) throw new Error(`${what} assets not found (looked in ${candidates.map((candidate) => fileURLToPath(candidate)).join(', ')})`);
    const directory = fileURLToPath(found);
    for (const [name, contentType] of Object.entries(names)) {
      const body = readFileSync(`${directory}/${name}`);
      this.files.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
    }
  }

  get(name: string): PageAsset | undefined {
    return Object.hasOwn(this.names, name) ? this.files.get(name) : undefined;
  }
}

/** Revalidated every time (cheap 304s): a deploy shows up on the next load, never a stale mix of files. */
export function sendPageAsset(request: Request, response: Response, asset: PageAsset | undefined, missing: string): void {
  if (!asset) throw new NotFoundException({ error: 'not_found', message: missing });
  response.setHeader('Cache-Control', 'no-cache');
  response.setHeader('ETag', asset.etag);
  if (request.headers['if-none-match'] === asset.etag) {
    response.status(304).end();
    return;
  }
  response.setHeader('Content-Type', asset.contentType);
  response.status(200).send(asset.body);
}

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
