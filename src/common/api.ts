// The common module's HTTP API, for the billing service (`tollgate/service`) only: the library's surface is index.ts,
// which must not load controllers or OpenAPI schema classes (they bring @nestjs/swagger).
export { ApiErrorDto, FieldProblemDto } from './api-error.dto.js';
export { ApiErrors, ApiIdempotencyKey, type ErrorCodes, errorSchema, METERED_ERRORS, RATE_LIMITED_ERRORS } from './api-responses.decorator.js';
export { PeriodDto } from './period.dto.js';
