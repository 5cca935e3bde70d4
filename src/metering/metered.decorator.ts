import { applyDecorators, SetMetadata, UseInterceptors } from '@nestjs/common';
import { MeteringInterceptor } from './metering.interceptor.js';
import { METERED, type MeteredMetadata, type MeteredOptions } from '../metering-core/index.js';

export type { MeteredCost, MeteredOptions } from '../metering-core/index.js';

/**
 * Meters a route: `@Metered('api_calls', { cost: 5 })`. Every successful response records one usage event
 * (quantity = cost) before it is sent. The interceptor comes with the decorator, so metering works the
 * same with global or per-controller guards.
 */
export const Metered = (meter = 'api_calls', options: MeteredOptions = {}) =>
  applyDecorators(SetMetadata(METERED, { meter, cost: options.cost } satisfies MeteredMetadata), UseInterceptors(MeteringInterceptor));
