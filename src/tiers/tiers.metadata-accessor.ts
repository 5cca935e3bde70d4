import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { MINIMUM_TIER } from './tier.decorator.js';

@Injectable()
export class TiersMetadataAccessor {
  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}

  minimumTier(context: ExecutionContext): string | undefined {
    return this.reflector.getAllAndOverride<string>(MINIMUM_TIER, [context.getHandler(), context.getClass()]);
  }
}
