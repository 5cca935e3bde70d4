import { type CanActivate, type ExecutionContext, ForbiddenException, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { assertPageOrigin, assertPageSignIn, ConstantTimeComparator } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { CONSOLE_COOKIE, consoleCookie, cookieValue } from './console-cookies.js';
import { ConsoleSessionsService } from './console-sessions.service.js';

export const CONSOLE_CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isSecureRequest(request: Request, config: TollgateConfig): boolean {
  return request.secure || (config.publicUrl?.startsWith('https://') ?? false);
}

export function consoleSessionToken(request: Request): string | null {
  return cookieValue(request.headers.cookie, CONSOLE_COOKIE);
}

/** Refuses what another site made a browser send (`assertPageOrigin`, shared with the portal). */
export function assertConsoleOrigin(request: Request, config: TollgateConfig): void {
  assertPageOrigin(request, config.publicUrl, 'Console');
}

/** Sign-in has no session yet: same origin, JSON only (a form on another site cannot post JSON). */
export function assertConsoleSignIn(request: Request, config: TollgateConfig): void {
  assertPageSignIn(request, config.publicUrl, 'Console');
}

/** The console's JSON API: a live session cookie and, on every state-changing call, its CSRF token in `X-CSRF-Token`. */
@Injectable()
export class ConsoleSessionGuard implements CanActivate {
  constructor(
    @Inject(ConsoleSessionsService) private readonly sessions: ConsoleSessionsService,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const token = consoleSessionToken(request);
    const session = token ? await this.sessions.find(token) : null;
    if (!session) {
      if (token) context.switchToHttp().getResponse<Response>().setHeader('Set-Cookie', consoleCookie('', { secure: isSecureRequest(request, this.config), maxAgeSeconds: 0 }));
      throw new UnauthorizedException({ error: 'not_signed_in', message: 'Sign in to the console first (your session may have expired).' });
    }
    if (!SAFE_METHODS.has(request.method)) {
      assertConsoleOrigin(request, this.config);
      const presented = request.header(CONSOLE_CSRF_HEADER);
      if (!presented || !this.comparator.secretsEqual(presented, session.csrfToken)) {
        throw new ForbiddenException({ error: 'csrf_token_invalid', message: `Missing or wrong ${CONSOLE_CSRF_HEADER} header: reload the console and try again.` });
      }
    }
    return true;
  }
}
