import { Injectable } from '@nestjs/common';
import { PageAssets } from '../common/index.js';

/** The portal's static files (src/portal/assets, or dist/src/portal/assets after the build copied them). */
@Injectable()
export class PortalAssets extends PageAssets {
  constructor() {
    super('portal', [new URL('./assets/', import.meta.url), new URL('../../../src/portal/assets/', import.meta.url)], {
      'index.html': 'text/html; charset=utf-8',
      'portal.css': 'text/css; charset=utf-8',
      'portal.js': 'text/javascript; charset=utf-8',
      'favicon.svg': 'image/svg+xml',
    });
  }
}
