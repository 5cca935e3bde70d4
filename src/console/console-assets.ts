import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Injectable } from '@nestjs/common';

export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** Every file the console serves; no path from a request touches the disk. */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
};

/** src/console/assets (Jest, sources) or dist/src/console/assets (after `npm run build` copied them). */
function assetsDirectory(): string {
  const candidates = [new URL('./assets/', import.meta.url), new URL('../../../src/console/assets/', import.meta.url)];
  const found = candidates.find((directory) => existsSync(new URL('index.html', directory)));
  if (!found) throw new Error(`console assets not found (looked in ${candidates.map((candidate) => fileURLToPath(candidate)).join(', ')})`);
  return fileURLToPath(found);
}

/** The console's static files, read once at start-up and served from memory with strong ETags. */
@Injectable()
export class ConsoleAssets {
  private readonly files = new Map<string, ConsoleAsset>();

  constructor() {
    const directory = assetsDirectory();
    for (const [name, contentType] of Object.entries(FILES)) {
      const body = readFileSync(`${directory}/${name}`);
      this.files.set(name, { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
    }
  }

  get(name: string): ConsoleAsset | undefined {
    return Object.hasOwn(FILES, name) ? this.files.get(name) : undefined;
  }
}
