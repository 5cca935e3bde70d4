// The verify module's public surface: other folders import only from here (enforced by the boundary lint).
export { VERIFIER_HEADER } from './verifier.guard.js';
export { COST_HEADER, DECISION_HEADERS, METER_HEADER, ORIGINAL_METHOD_HEADER, ORIGINAL_URI_HEADER } from './verify.controller.js';
export { VerifyDecisionDto, VerifyKeyDto } from './verify.dto.js';
export { VerifyApiModule } from './verify-api.module.js';
export { VerifyModule } from './verify.module.js';
export { type VerifyDecision, type VerifyInput, VerifyService } from './verify.service.js';
