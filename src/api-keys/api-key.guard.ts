import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { databaseUnavailable } from '../database/index.js';
import { DatabaseReadiness } from '../database/index.js';
import { applyErrorHeaders, InvalidApiKeyException } from '../common/index.js';
import type { KeyRejection } from './api-key.cache.js';
import { ApiKeysMetadataAccessor } from './api-keys.metadata-accessor.js';
import { ApiKeysService } from './api-keys.service.js';
import { attachConsumer, consumerOf } from './consumer.js';

const MESSAGES: Record<KeyRejection | 'missing', string> = {
  missing: 'Missing API key: send it in the x-api-key header or as "Authorization: Bearer <key>".',
  unknown: 'Invalid API key.',
  revoked: 'This API key has been revoked.',
  expired: 'This API key has expired.',
  suspended: "This API key's account is suspended.",
};

function presentedKey(request: Request): string | null {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header.trim();
  const authorization = request.headers.authorization;
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim();
  return null;
}

/** First guard of the request path: authenticates the API key and attaches the Consumer to the request. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(ApiKeysMetadataAccessor) private readonly metadata: ApiKeysMetadataAccessor,
    @Inject(DatabaseReadiness) private readonly readiness: DatabaseReadiness,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http' || this.metadata.isPublic(context)) return true;
    const request = context.switchToHttp().getRequest<Request>();
    if (consumerOf(request)) return true;
    // Started during a database outage (a host app has no gate in front): no key can be checked yet.
    if (!this.readiness.open) throw databaseUnavailable(context.switchToHttp().getResponse<Response>());
    const secret = presentedKey(request);
    const result = secret ? await this.apiKeys.authenticate(secret) : { rejection: 'missing' as const };
    if ('rejection' in result) {
      await this.throwInvalidApiKeyException(context, new InvalidApiKeyException(MESSAGES[result.rejection]));
      return false;
    }
    attachConsumer(request, result.consumer);
    return true;
  }

  /** Override to change how a refused key is answered (another body, a log line); it must throw. */
  protected async throwInvalidApiKeyException(context: ExecutionContext, exception: InvalidApiKeyException): Promise<never> {
    applyErrorHeaders(exception, context.switchToHttp().getResponse<Response>());
    throw exception;
  }
}
