import { Injectable } from '@nestjs/common';
import { PageAssets } from '../common/index.js';

/** The console's static files (src/console/assets, or dist/src/console/assets after the build copied them). */
@Injectable()
export class ConsoleAssets extends PageAssets {
  constructor() {
    super('console', [new URL('./assets/', import.meta.url), new URL('../../../src/console/assets/', import.meta.url)], {
      'index.html': 'text/html; charset=utf-8',
      'console.css': 'text/css; charset=utf-8',
      'console.js': 'text/javascript; charset=utf-8',
    });
  }
}
