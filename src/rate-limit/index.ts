// The rate-limit module's public surface: other folders import only from here (enforced by the boundary lint).
export { clientAddressBucket } from './client-address.js';
export { RateLimitGuard } from './rate-limit.guard.js';
export { setRateLimitHeaders } from './rate-limit.headers.js';
export { RateLimitModule } from './rate-limit.module.js';
export { RateLimitService } from './rate-limit.service.js';
export { MemoryRateLimitStorage } from './memory-rate-limit.storage.js';
export {
  HOST_RATE_LIMIT_STORAGE,
  InjectRateLimitStorage,
  type PolicyState,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitRequest,
  RateLimitStorage,
} from './rate-limit.storage.js';
