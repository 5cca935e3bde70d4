import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PUBLIC_ROUTE } from '../common/index.js';

@Injectable()
export class ApiKeysMetadataAccessor {
  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}

  /** Per handler (and the class it was reached through: a handler can be inherited): read once, not per request. */
  private readonly publicByHandler = new WeakMap<object, { type: object; value: boolean }>();

  isPublic(context: ExecutionContext): boolean {
    const handler = context.getHandler();
    const type = context.getClass();
    const known = this.publicByHandler.get(handler);
    if (known?.type === type) return known.value;
    const value = this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [handler, type]) === true;
    this.publicByHandler.set(handler, { type, value });
    return value;
  }
}
