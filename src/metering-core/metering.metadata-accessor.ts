import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { METERED, type MeteredMetadata } from './metered.metadata.js';

@Injectable()
export class MeteringMetadataAccessor {
  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}

  metered(context: ExecutionContext): MeteredMetadata | undefined {
    return this.reflector.getAllAndOverride<MeteredMetadata>(METERED, [context.getHandler(), context.getClass()]);
  }
}
