// The verify module's public surface: other folders import only from here (enforced by the boundary lint).
export { VerifyModule } from './verify.module.js';
export { type VerifyDecision, type VerifyInput, VerifyService } from './verify.service.js';
