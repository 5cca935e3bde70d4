import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Injectable } from '@nestjs/common';

export interface PortalAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** Every file the portal serves; nothing else under /portal/assets/ resolves (no path from the request touches the disk). */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'portal.css': 'text/css; charset=utf-8',
  'portal.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/**
 * The assets folder: next to this module (src/portal/assets under Jest and ts sources; dist/src/portal/assets
 * once `npm run build` has copied them), else the source tree seen from dist/ (a build without the copy step).
 */
export function portalAssetsDirectory(): string {
  const candidates = [new URL('./assets/', import.meta.url), new URL('../../../src/portal/assets/', import.meta.url)];
  const found = candidates.find((directory) => existsSync(new URL('index.html', directory)));
  if (!found) throw new Error(`portal assets not found (looked in ${candidates.map((candidate) => fileURLToPath(candidate)).join(', ')})`);
  return fileURLToPath(found);
}

/** The portal's static files, read once at start-up and served from memory with strong ETags. */
@Injectable()
export class PortalAssets {
  private readonly files = new Map<string, PortalAsset>();

  constructor() {
    const directory = portalAssetsDirectory();
    for (const [name, contentType] of Object.entries(FILES)) {
      const body = readFileSync(`${directory}/${name}`);
      this.files.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
    }
  }

  get(name: string): PortalAsset | undefined {
    return Object.hasOwn(FILES, name) ? this.files.get(name) : undefined;
  }
}
