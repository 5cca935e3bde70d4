import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { databaseUnavailable } from '../database/index.js';
import { DatabaseReadiness } from '../database/index.js';
import { applyErrorHeaders, headerSinkOf, type HttpRequest, InvalidApiKeyException } from '../common/index.js';
import { ApiKeysMetadataAccessor } from './api-keys.metadata-accessor.js';
import { ApiKeysService, type Authentication } from './api-keys.service.js';
import { attachConsumer, consumerOf } from './consumer.js';
import { KEY_REJECTION_MESSAGES, presentedKey } from './api-key.presented.js';
import { ipRefusal } from './key-controls.js';

type Presented = Authentication | { rejection: 'missing' };

const MISSING_KEY: Presented = { rejection: 'missing' };

/** First guard of the request path: authenticates the API key and attaches the Consumer to the request. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(ApiKeysMetadataAccessor) private readonly metadata: ApiKeysMetadataAccessor,
    @Inject(DatabaseReadiness) private readonly readiness: DatabaseReadiness,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http' || this.metadata.isPublic(context)) return true;
    const request = context.switchToHttp().getRequest<HttpRequest>();
    if (consumerOf(request)) return true;
    // Started during a database outage (a host app has no gate in front): no key can be checked yet.
    if (!this.readiness.open) throw databaseUnavailable(headerSinkOf(context.switchToHttp().getResponse<object>()));
    const secret = presentedKey(request.headers);
    const result: Presented | Promise<Authentication> = secret ? this.apiKeys.authenticateNow(secret) : MISSING_KEY;
    // A warm key cache answers synchronously, and so does this guard: no promise for Nest to await.
    return result instanceof Promise ? result.then((settled) => this.admit(context, request, settled)) : this.admit(context, request, result);
  }

  private admit(context: ExecutionContext, request: HttpRequest, result: Presented): boolean | Promise<boolean> {
    if ('rejection' in result) {
      return this.throwInvalidApiKeyException(context, new InvalidApiKeyException(KEY_REJECTION_MESSAGES[result.rejection])).then(() => false);
    }
    // A key with an IP allowlist works only from its addresses: `request.ip`, which honours X-Forwarded-For only from
    // the proxies Express' `trust proxy` names (the service: TOLLGATE_TRUSTED_PROXIES, default loopback).
    const controls = result.consumer.key.controls;
    const refusal = controls.ipAllowlist ? ipRefusal(controls, request.ip) : null; // request.ip is computed: read it only when needed
    if (refusal) {
      applyErrorHeaders(refusal, headerSinkOf(context.switchToHttp().getResponse<object>()));
      throw refusal;
    }
    attachConsumer(request, result.consumer);
    return true;
  }

  /** Override to change how a refused key is answered (another body, a log line); it must throw. */
  protected async throwInvalidApiKeyException(context: ExecutionContext, exception: InvalidApiKeyException): Promise<never> {
    applyErrorHeaders(exception, headerSinkOf(context.switchToHttp().getResponse<object>()));
    throw exception;
  }
}
