import { PEERS_ENV } from '../support/protocol.js';
import { PEER_EXACT_LIMIT } from '../support/peers-app.js';
import { aboveEveryPeer, throughputRatioAtLeast, type Scenario } from '../support/scenario.js';

/** Requests of each exactness burst, all at once, at a limit of 10 per minute. */
const BURST = 200;

/**
 * Tollgate's key + tier + rate-limit path (Redis and in-memory store) against the limiters a Nest user would
 * install instead, each limiting only (no key, no tier), all served by one process and measured against the same
 * bare endpoint. Every limit is far above what the run sends; then a burst of 200 at a 10/min limit on each.
 */
const scenario: Scenario = {
  name: 'rate-limit-peers',
  title: "Tollgate's key + tier + rate limit vs @nestjs/throttler (memory, Redis) and rate-limiter-flexible (Redis), one process",
  env: { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', [PEERS_ENV]: '1' },
  plan: (server) => {
    const port = (name: string) => `http://127.0.0.1:${server.extra[name]}`;
    return {
      baseline: { label: 'bare GET /bench/bare', path: '/bench/bare' },
      candidates: [
        {
          label: 'Tollgate key+tier+rate limit, Redis',
          path: '/v1/basic/limited',
          headers: { 'x-api-key': server.apiKey },
          aim: [throughputRatioAtLeast(0.9), aboveEveryPeer()],
        },
        {
          label: 'Tollgate key+tier+rate limit, memory',
          base: port('memoryPort'),
          path: '/v1/basic/limited',
          headers: { 'x-api-key': server.extra.memoryApiKey },
          aim: aboveEveryPeer(),
        },
        { label: 'peer: @nestjs/throttler, default storage', base: port('throttler-memoryPort'), path: '/bench/limited', peer: true },
        { label: 'peer: @nestjs/throttler + nest-lab Redis storage', base: port('throttler-redisPort'), path: '/bench/limited', peer: true },
        { label: 'peer: rate-limiter-flexible RateLimiterRedis guard', base: port('rlf-redisPort'), path: '/bench/limited', peer: true },
        // The peers run in lean Nest apps (no request logging, body parsers, database gate): this row shows what
        // such an app's bare endpoint reaches, i.e. how much of a peer's ratio is its leaner app, not its limiter.
        { label: 'lean Nest app bare (the peers\' app, no limiter)', base: port('rlf-redisPort'), path: '/bench/bare' },
      ],
    };
  },
  probes: (server) => {
    const port = (name: string) => `http://127.0.0.1:${server.extra[name]}`;
    const peer = (label: string, name: string) => ({ label, base: port(name), path: '/bench/exact', requests: BURST, limit: PEER_EXACT_LIMIT });
    return [
      // The key is warmed on the key + tier route (no rate limit), so the burst meets a warm key cache.
      { label: 'Tollgate, Redis', path: '/v1/basic/limited', warm: '/v1/basic/bench', headers: { 'x-api-key': server.extra.exactApiKey }, requests: BURST, limit: 10 },
      {
        label: 'Tollgate, memory',
        base: port('memoryPort'),
        path: '/v1/basic/limited',
        warm: '/v1/basic/bench',
        headers: { 'x-api-key': server.extra.memoryExactApiKey },
        requests: BURST,
        limit: 10,
      },
      peer('@nestjs/throttler, default storage', 'throttler-memoryPort'),
      peer('@nestjs/throttler + nest-lab Redis storage', 'throttler-redisPort'),
      peer('rate-limiter-flexible RateLimiterRedis', 'rlf-redisPort'),
    ];
  },
};

export default scenario;
