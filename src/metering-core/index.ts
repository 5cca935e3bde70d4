// The metering-core module's public surface: other folders import only from here (enforced by the boundary lint).
export { CostResolver } from './cost.resolver.js';
export { METERED, type MeteredCost, type MeteredMetadata, type MeteredOptions } from './metered.metadata.js';
export { MeteringCoreModule } from './metering-core.module.js';
export { MeteringMetadataAccessor } from './metering.metadata-accessor.js';
