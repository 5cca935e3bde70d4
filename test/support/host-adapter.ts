import type { INestApplication, NestApplicationOptions } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { TestingModule } from '@nestjs/testing';

/** The HTTP adapters a host app may run Tollgate's library on; host-app scenarios run on each. */
export const HOST_ADAPTERS = ['express', 'fastify'] as const;
export type HostAdapter = (typeof HOST_ADAPTERS)[number];

/** A host app on `adapter`: Nest's default (Express), or `@nestjs/platform-fastify` as its docs set it up. */
export function createHostApplication(moduleRef: TestingModule, adapter: HostAdapter, options: NestApplicationOptions): INestApplication {
  return adapter === 'fastify' ? moduleRef.createNestApplication(new FastifyAdapter(), options) : moduleRef.createNestApplication(options);
}
