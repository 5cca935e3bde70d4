// The tiers module's public surface: other folders import only from here (enforced by the boundary lint).
export { Tier } from './tier.decorator.js';
export { TiersMetadataAccessor } from './tiers.metadata-accessor.js';
export { TiersModule } from './tiers.module.js';
export { TiersService } from './tiers.service.js';
export { compileEndpointGlob, normalizePath } from './endpoint-glob.js';
