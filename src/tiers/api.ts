// The tiers module's HTTP API, for the billing service (`tollgate/service`) only: the library's surface is index.ts,
// which must not load controllers or OpenAPI schema classes (they bring @nestjs/swagger).
export { TiersApiModule } from './tiers-api.module.js';
export { RatePolicyDto, TierCatalogDto } from './tiers.dto.js';
