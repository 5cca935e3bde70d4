import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiKeysService } from '../api-keys/index.js';
import { attachConsumer, ipRefusal } from '../api-keys/index.js';
import { ConstantTimeComparator } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { InvalidApiKeyException, ScopeRequiredException } from '../common/index.js';

export const INGEST_SCOPE = 'ingest';

/** POST /v1/events: the admin token (any customer), or an API key with the `ingest` scope (its own customer). */
@Injectable()
export class EventsAuthGuard implements CanActivate {
  constructor(
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<Request>();
    const authorization = request.headers.authorization ?? '';
    const bearer = authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    const apiKey = typeof request.headers['x-api-key'] === 'string' ? request.headers['x-api-key'] : bearer.startsWith('tg_') ? bearer : '';
    if (!apiKey && bearer && this.comparator.secretsEqual(bearer, this.config.adminToken)) return true;
    // A 401 names the scheme to use (RFC 9110), as the admin and API-key guards do.
    const response = context.switchToHttp().getResponse<Response>();
    if (!apiKey) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="tollgate"');
      throw new UnauthorizedException({ error: 'unauthorized', message: 'Send the admin token or an API key with the "ingest" scope.' });
    }
    const result = await this.apiKeys.authenticate(apiKey);
    // A key that does not work: the API-key challenge, as ApiKeyGuard sends it.
    if ('rejection' in result) throw new InvalidApiKeyException('Invalid API key.');
    const refusal = result.consumer.key.controls.ipAllowlist ? ipRefusal(result.consumer.key.controls, request.ip) : null;
    if (refusal) throw refusal;
    if (!result.consumer.key.scopes.includes(INGEST_SCOPE)) throw new ScopeRequiredException(INGEST_SCOPE);
    attachConsumer(request, result.consumer);
    return true;
  }
}
