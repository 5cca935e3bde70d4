import {
  type CanActivate,
  createParamDecorator,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { assertPageOrigin, assertPageSignIn, ConstantTimeComparator } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { CustomersService } from '../customers/index.js';
import { clearedSessionCookie, readCookie, SESSION_COOKIE } from './portal-cookies.js';
import { type PortalSession, PortalSessionsService } from './portal-sessions.service.js';

export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SESSION = Symbol('tollgate.portal.session');

interface WithSession {
  [SESSION]?: { session: PortalSession; token: string };
}

/** Whether the session cookie gets `Secure`: the request came over https (directly or via a trusted proxy), or the public URL is https. */
export function isSecureRequest(request: Request, config: TollgateConfig): boolean {
  return request.secure || (config.publicUrl?.startsWith('https://') ?? false);
}

/** The session cookie's token of a request, if any. */
export function sessionToken(request: Request): string | null {
  return readCookie(request.headers.cookie, SESSION_COOKIE);
}

/** Refuses requests another site made the browser send (`assertPageOrigin`, shared with the console). */
export function assertSameOrigin(request: Request, config: TollgateConfig): void {
  assertPageOrigin(request, config.publicUrl, 'Portal');
}

/** Sign-in calls carry no session yet: same origin, and JSON only. */
export function assertSignInRequest(request: Request, config: TollgateConfig): void {
  assertPageSignIn(request, config.publicUrl, 'Portal');
}

/**
 * Guards the portal's JSON API: a live session cookie, an account that may still sign in, and for every
 * state-changing method the session's CSRF token in `X-CSRF-Token` (synchronizer token pattern).
 */
@Injectable()
export class PortalSessionGuard implements CanActivate {
  constructor(
    @Inject(PortalSessionsService) private readonly sessions: PortalSessionsService,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const response = context.switchToHttp().getResponse<Response>();
    const token = sessionToken(request);
    const session = token ? await this.sessions.find(token) : null;
    if (!token || !session) {
      if (token) response.setHeader('Set-Cookie', clearedSessionCookie({ secure: isSecureRequest(request, this.config) }));
      throw new UnauthorizedException({ error: 'not_signed_in', message: 'Sign in to the portal first (your session may have expired).' });
    }
    if (!this.sessions.canSignIn(await this.customers.find(session.customerId))) {
      await this.sessions.closeAllFor(session.customerId);
      response.setHeader('Set-Cookie', clearedSessionCookie({ secure: isSecureRequest(request, this.config) }));
      throw new UnauthorizedException({ error: 'not_signed_in', message: 'This account is suspended or closed.' });
    }
    if (!SAFE_METHODS.has(request.method)) {
      assertSameOrigin(request, this.config);
      const presented = request.header(CSRF_HEADER);
      if (!presented || !this.comparator.secretsEqual(presented, session.csrfToken)) {
        throw new ForbiddenException({ error: 'csrf_token_invalid', message: `Missing or wrong ${CSRF_HEADER} header: reload the portal and try again.` });
      }
    }
    (request as WithSession)[SESSION] = { session, token };
    return true;
  }
}

/** The session PortalSessionGuard resolved for this request (undefined before it ran). */
export function portalSessionOf(request: Request): PortalSession | undefined {
  return (request as WithSession)[SESSION]?.session;
}

/** Handler parameter: the session PortalSessionGuard resolved. */
export const CurrentPortalSession = createParamDecorator((_data: unknown, context: ExecutionContext): PortalSession => {
  const session = portalSessionOf(context.switchToHttp().getRequest<Request>());
  if (!session) throw new Error('CurrentPortalSession used on a route without PortalSessionGuard');
  return session;
});
