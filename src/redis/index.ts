// The redis module's public surface: other folders import only from here (enforced by the boundary lint).
export { RedisConnection } from './redis.connection.js';
export { RedisModule } from './redis.module.js';
