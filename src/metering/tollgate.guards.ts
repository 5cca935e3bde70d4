import { ApiKeyGuard } from '../api-keys/api-key.guard.js';
import { TierGuard } from '../api-keys/tier.guard.js';
import { RateLimitGuard } from '../rate-limit/rate-limit.guard.js';
import { QuotaGuard } from './quota.guard.js';

/** The order of the request path; per-controller users apply the same list with `@UseGuards(...TOLLGATE_GUARDS)`. */
export const TOLLGATE_GUARDS = [ApiKeyGuard, TierGuard, RateLimitGuard, QuotaGuard];
