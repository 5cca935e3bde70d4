import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ConstantTimeComparator } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';

/** Admin API: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<Request>();
    const authorization = request.headers.authorization ?? '';
    const token = authorization.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    if (token && this.comparator.secretsEqual(token, this.config.adminToken)) return true;
    context.switchToHttp().getResponse<Response>().setHeader('WWW-Authenticate', 'Bearer realm="tollgate-admin"');
    throw new UnauthorizedException({ error: 'unauthorized', message: 'This admin endpoint needs "Authorization: Bearer <ADMIN_TOKEN>".' });
  }
}
