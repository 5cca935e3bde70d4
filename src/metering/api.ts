// The metering module's HTTP API, for the billing service (`tollgate/service`) only: the library's surface is index.ts,
// which must not load controllers or OpenAPI schema classes (they bring @nestjs/swagger).
export { UsageApiModule } from './usage-api.module.js';
export { ApiUsagePeriod, QUANTITY_SCHEMA, UsageReportDto } from './usage.dto.js';
