import { onFastify } from '../support/adapter-scenario.js';
import rateLimitRedis from './rate-limit-redis.js';

export default onFastify(rateLimitRedis);
