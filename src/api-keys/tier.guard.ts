import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { consumerOf } from './consumer.js';
import { endpointRefusal } from './key-controls.js';
import { TiersMetadataAccessor } from '../tiers/index.js';
import { TiersService } from '../tiers/index.js';
import { type HttpRequest, pathOf, TierRequiredException } from '../common/index.js';

/** Second guard: the consumer's tier must reach both the route's `@Tier()` and the tier its path's glob needs. */
@Injectable()
export class TierGuard implements CanActivate {
  constructor(
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TiersMetadataAccessor) private readonly metadata: TiersMetadataAccessor,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const consumer = consumerOf(request);
    // No consumer means a public route (ApiKeyGuard admitted it without a key): nothing to check.
    if (!consumer) return true;
    const minimumName = this.metadata.minimumTier(context);
    const byDecorator = minimumName ? this.tiers.find(minimumName) : null;
    if (minimumName && !byDecorator) throw new Error(`@Tier('${minimumName}') names a tier that is not in the catalog`);
    const path = pathOf(request);
    const refusal = this.tiers.tierRefusal(consumer.tier, path, byDecorator ?? null);
    if (refusal) this.throwTierRequiredException(context, refusal);
    // Then the key's own endpoint globs, narrower than its tier's.
    const notAllowed = endpointRefusal(consumer.key.controls, path);
    if (notAllowed) throw notAllowed;
    return true;
  }

  /** Override to change how a too-low tier is answered (another body, an upgrade link per customer); it must throw. */
  protected throwTierRequiredException(_context: ExecutionContext, exception: TierRequiredException): never {
    throw exception;
  }
}
