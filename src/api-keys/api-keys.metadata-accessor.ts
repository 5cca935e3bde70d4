import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PUBLIC_ROUTE } from '../common/index.js';

@Injectable()
export class ApiKeysMetadataAccessor {
  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}

  isPublic(context: ExecutionContext): boolean {
    return this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()]) === true;
  }
}
