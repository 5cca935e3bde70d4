import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { policyKeys, type RateLimitDecision, type RateLimitPolicy, type RateLimitRequest, type RateLimitStorage } from './rate-limit.storage.js';

/**
 * GCRA over every policy of a request in one round trip, atomically, on Redis' clock (instances' clocks
 * may drift; Redis' is the one they share). A port of gcra.ts: keep them in step.
 * KEYS: one per policy. ARGV: cost, then limit and window (ms) per policy.
 * Returns: allowed (0/1), retry-after ms, then per policy: remaining, reset ms, refused (0/1).
 */
const GCRA_SCRIPT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local cost = tonumber(ARGV[1])
local allowed = 1
local retry = 0
local tats = {}
local nexts = {}
local waits = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i * 2])
  local window = tonumber(ARGV[i * 2 + 1])
  local interval = window / limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  nexts[i] = tat + cost * interval
  local allow_at = nexts[i] - window
  waits[i] = 0
  if allow_at > now then
    allowed = 0
    waits[i] = allow_at - now
    if allow_at - now > retry then retry = allow_at - now end
  end
end
local out = { allowed, math.ceil(retry - 1e-6) }
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
  if remaining > limit then remaining = limit end
  local reset = 0
  if waits[i] > 0 then
    reset = waits[i]
  elseif remaining < limit then
    reset = effective - window + (remaining + 1) * interval - now
  end
  if reset < 0 then reset = 0 end
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(reset - 1e-6)
  if waits[i] > 0 then out[#out + 1] = 1 else out[#out + 1] = 0 end
end
return out
`;

interface GcraCommand {
  tollgateGcra(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<number[]>;
}

/** How long start-up waits for the rate-limit connection before serving (then: fail-open/closed until it is up). */
const READY_WAIT_MS = 2_000;

/** The policies' `limit, windowMs` script arguments, derived once per policies array (callers reuse theirs). */
const scriptArgs = new WeakMap<RateLimitPolicy[], { args: number[] }>();

function scriptArgsOf(policies: RateLimitPolicy[]): { args: number[] } {
  let derived = scriptArgs.get(policies);
  if (!derived) {
    derived = { args: policies.flatMap((policy) => [policy.limit, policy.windowMs]) };
    scriptArgs.set(policies, derived);
  }
  return derived;
}

/**
 * Redis storage. Keys carry a hash tag on the bucket (`{tollgate:rl:cus_123}:w60`) so one customer's
 * keys share a Cluster slot and the multi-key script is legal there. ioredis sends EVALSHA and falls
 * back to EVAL when the script is not cached yet.
 *
 * It talks over its own connection, a duplicate of the shared client without ioredis' `commandTimeout`:
 * that timer runs before the socket is read in an event-loop turn, so when this process lags it rejects
 * commands whose answers have already arrived. RateLimitService bounds the wait instead, counting only time
 * in which this process could have read an answer. In-flight commands are not resent after a reconnect
 * (the request was decided without them) and fail as soon as the connection drops.
 */
export class RedisRateLimitStorage implements RateLimitStorage, OnModuleInit, OnApplicationShutdown {
  readonly remote = true;
  private readonly redis: Redis & GcraCommand;

  constructor(
    shared: Redis,
    private readonly prefix: string,
  ) {
    const redis = shared.duplicate({
      connectionName: 'tollgate-rate-limit',
      commandTimeout: undefined,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    });
    // Faults are reported by RateLimitService (throttled); without a listener ioredis prints every one.
    redis.on('error', () => undefined);
    redis.defineCommand('tollgateGcra', { lua: GCRA_SCRIPT });
    this.redis = redis as Redis & GcraCommand;
  }

  /** Not 'ready' (connecting, reconnecting, closed): a call would fail at once, so it is a fault without trying. */
  available(): boolean {
    return this.redis.status === 'ready';
  }

  ping(): Promise<unknown> {
    return this.redis.ping();
  }

  async onModuleInit(): Promise<void> {
    if (this.available()) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off('ready', done);
        this.redis.off('end', done);
        resolve();
      };
      const timer = setTimeout(done, READY_WAIT_MS);
      this.redis.once('ready', done);
      this.redis.once('end', done);
    });
  }

  onApplicationShutdown(): void {
    this.close();
  }

  close(): void {
    this.redis.disconnect(false);
  }

  consume(request: RateLimitRequest): Promise<RateLimitDecision> {
    const { args } = scriptArgsOf(request.policies);
    const keys = policyKeys(`{${this.prefix}:rl:${request.bucket}}`, ':', request.policies);
    // Not an async function: the command's own promise is the answer's, one promise fewer per request.
    return this.redis.tollgateGcra(keys.length, ...keys, request.cost, ...args).then((reply) => ({
      allowed: reply[0] === 1,
      retryAfterMs: reply[1],
      policies: request.policies.map((policy, i) => ({
        id: policy.id,
        limit: policy.limit,
        windowMs: policy.windowMs,
        remaining: reply[2 + i * 3],
        resetMs: reply[3 + i * 3],
        refused: reply[4 + i * 3] === 1,
      })),
    }));
  }
}
