// The verify module's HTTP API, for the billing service (`tollgate/service`) only: the library's surface is index.ts,
// which must not load controllers or OpenAPI schema classes (they bring @nestjs/swagger).
export { VERIFIER_HEADER } from './verifier.guard.js';
export { COST_HEADER, DECISION_HEADERS, METER_HEADER, ORIGINAL_METHOD_HEADER, ORIGINAL_URI_HEADER } from './verify.controller.js';
export { VerifyDecisionDto, VerifyKeyDto } from './verify.dto.js';
export { VerifyApiModule } from './verify-api.module.js';
