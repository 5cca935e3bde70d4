import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { setPageSecurityHeaders } from '../common/index.js';

/** Security headers for everything under /console (shared with the other browser page); its JSON API's answers are never cached. */
@Injectable()
export class ConsoleHeadersMiddleware implements NestMiddleware {
  use(request: Request, response: Response, next: NextFunction): void {
    setPageSecurityHeaders(request, response, '/console/api');
    next();
  }
}
