import type { Redis } from 'ioredis';
import type { RateLimitDecision, RateLimitRequest, RateLimitStorage } from './rate-limit.storage.js';

/**
 * GCRA over every policy of a request in one round trip, atomically, on Redis' clock (instances' clocks
 * may drift; Redis' is the one they share). A port of gcra.ts: keep them in step.
 * KEYS: one per policy. ARGV: cost, then limit and window (ms) per policy.
 * Returns: allowed (0/1), retry-after ms, then remaining and reset ms per policy.
 */
const GCRA_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cost = tonumber(ARGV[1])
local allowed = 1
local retry = 0
local tats = {}
local nexts = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i * 2])
  local window = tonumber(ARGV[i * 2 + 1])
  local interval = window / limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  nexts[i] = tat + cost * interval
  local allow_at = nexts[i] - window
  if allow_at > now then
    allowed = 0
    if allow_at - now > retry then retry = allow_at - now end
  end
end
local out = { allowed, math.ceil(retry) }
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i * 2])
  local window = tonumber(ARGV[i * 2 + 1])
  local interval = window / limit
  local effective = tats[i]
  if allowed == 1 then
    effective = nexts[i]
    redis.call('SET', KEYS[i], string.format('%.3f', effective), 'PX', math.max(1, math.ceil(effective - now)))
  end
  local remaining = math.floor((now + window - effective) / interval + 1e-9)
  if remaining < 0 then remaining = 0 end
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(effective - now)
end
return out
`;

interface GcraCommand {
  tollgateGcra(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<number[]>;
}

/**
 * Redis storage. Keys carry a hash tag on the bucket (`{tollgate:rl:cus_123}:w60`) so one customer's
 * keys share a Cluster slot and the multi-key script is legal there. ioredis sends EVALSHA and falls
 * back to EVAL when the script is not cached yet.
 */
export class RedisRateLimitStorage implements RateLimitStorage {
  readonly remote = true;
  private readonly redis: Redis & GcraCommand;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    redis.defineCommand('tollgateGcra', { lua: GCRA_SCRIPT });
    this.redis = redis as Redis & GcraCommand;
  }

  async consume(request: RateLimitRequest): Promise<RateLimitDecision> {
    const slot = `{${this.prefix}:rl:${request.bucket}}`;
    const keys = request.policies.map((policy) => `${slot}:${policy.id}`);
    const args = request.policies.flatMap((policy) => [policy.limit, policy.windowMs]);
    const reply = await this.redis.tollgateGcra(keys.length, ...keys, request.cost, ...args);
    return {
      allowed: reply[0] === 1,
      retryAfterMs: reply[1],
      policies: request.policies.map((policy, i) => ({
        id: policy.id,
        limit: policy.limit,
        windowMs: policy.windowMs,
        remaining: reply[2 + i * 2],
        resetMs: reply[3 + i * 2],
      })),
    };
  }
}
