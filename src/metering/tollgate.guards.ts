import { ApiKeyGuard } from '../api-keys/index.js';
import { TierGuard } from '../api-keys/index.js';
import { RateLimitGuard } from '../rate-limit/index.js';
import { QuotaGuard } from './quota.guard.js';

/** The order of the request path; per-controller users apply the same list with `@UseGuards(...TOLLGATE_GUARDS)`. */
export const TOLLGATE_GUARDS = [ApiKeyGuard, TierGuard, RateLimitGuard, QuotaGuard];
