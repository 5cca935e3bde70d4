import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiKeysService, ipRefusal, VERIFY_SCOPE } from '../api-keys/index.js';
import { ConstantTimeComparator, ScopeRequiredException } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';

/**
 * The header nginx's `auth_request` location sets (`proxy_set_header`) with the verifier's credential. Not
 * `Authorization`: on that door it carries the client's own key, which nginx passes through untouched.
 */
export const VERIFIER_HEADER = 'x-tollgate-verifier';

const CHALLENGE = 'Bearer realm="tollgate-verify"';

/**
 * Who may ask for decisions: the operator (admin token) or a key with the `verify` scope (which only the
 * operator grants). A verify key is the better fit for a gateway: it can be rotated and revoked on its own.
 */
@Injectable()
export class VerifierCheck {
  constructor(
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
  ) {}

  /** `request`: the verifier's own, whose address (`request.ip`) a verify key with an IP allowlist is checked against. */
  async check(credential: string | null, response: Response, where: string, request: Request): Promise<void> {
    if (credential && this.comparator.secretsEqual(credential, this.config.adminToken)) return;
    const result = credential?.startsWith('tg_') ? await this.apiKeys.authenticate(credential) : null;
    if (!result || 'rejection' in result) {
      response.setHeader('WWW-Authenticate', CHALLENGE);
      throw new UnauthorizedException({ error: 'unauthorized', message: `Send the admin token or an API key with the "${VERIFY_SCOPE}" scope ${where}.` });
    }
    const refusal = result.consumer.key.controls.ipAllowlist ? ipRefusal(result.consumer.key.controls, request.ip) : null;
    if (refusal) throw refusal;
    if (!result.consumer.key.scopes.includes(VERIFY_SCOPE)) throw new ScopeRequiredException(VERIFY_SCOPE);
  }
}

/** POST /v1/keys/verify: the verifier's credential as `Authorization: Bearer …` or `x-api-key` (the key to decide is in the body). */
@Injectable()
export class VerifyCallerGuard implements CanActivate {
  constructor(@Inject(VerifierCheck) private readonly verifier: VerifierCheck) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const authorization = request.headers.authorization ?? '';
    const apiKey = request.headers['x-api-key'];
    const credential = typeof apiKey === 'string' && apiKey ? apiKey.trim() : authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : null;
    await this.verifier.check(credential, context.switchToHttp().getResponse<Response>(), 'as "Authorization: Bearer <token>" or x-api-key', request);
    return true;
  }
}

/** GET /v1/keys/verify/auth-request: the verifier's credential in `X-Tollgate-Verifier` (set by nginx, never by the client). */
@Injectable()
export class AuthRequestCallerGuard implements CanActivate {
  constructor(@Inject(VerifierCheck) private readonly verifier: VerifierCheck) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const header = request.headers[VERIFIER_HEADER];
    const credential = typeof header === 'string' && header ? header.trim() : null;
    await this.verifier.check(credential, context.switchToHttp().getResponse<Response>(), `in the ${VERIFIER_HEADER} header`, request);
    return true;
  }
}
