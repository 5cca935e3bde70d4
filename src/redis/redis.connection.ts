import { Inject } from '@nestjs/common';
import type { Redis } from 'ioredis';

/** The shared ioredis client, or null when REDIS_URL is unset (modules then use in-process stores). */
export type RedisConnection = Redis | null;
export const RedisConnection = Symbol('RedisConnection');
export const InjectRedis = () => Inject(RedisConnection);
