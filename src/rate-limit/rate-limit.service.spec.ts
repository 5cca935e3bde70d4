import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { TollgateConfig } from '../config/tollgate-config.js';
import { MemoryRateLimitStorage } from './memory-rate-limit.storage.js';
import { RateLimitService } from './rate-limit.service.js';
import type { RateLimitDecision, RateLimitRequest, RateLimitStorage } from './rate-limit.storage.js';

// Product defaults throughout.
const config = new TollgateConfig();
const request: RateLimitRequest = { bucket: 'cus_1', policies: [{ id: 'w60', limit: 10, windowMs: 60_000 }], cost: 1 };
const decision: RateLimitDecision = { allowed: false, retryAfterMs: 6_000, policies: [] };

/** Keeps this thread busy: what a burst of requests does to the event loop. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

/**
 * A remote store whose answer comes over a real loopback socket, like Redis': the request is written when the
 * loop gets to it (setImmediate, as ioredis' auto-pipelining does) and the answer is read in the loop's I/O phase.
 */
class SocketStore implements RateLimitStorage {
  readonly remote = true;
  calls = 0;
  private waiting: Array<(decision: RateLimitDecision) => void> = [];

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk) => {
      for (let i = 0; i < chunk.length; i++) this.waiting.shift()?.(decision);
    });
  }

  consume(): Promise<RateLimitDecision> {
    this.calls++;
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      setImmediate(() => this.socket.write('?'));
    });
  }
}

/** A store that is connected but never answers (a frozen Redis), or that fails every call, until it heals. */
class StuckStore implements RateLimitStorage {
  readonly remote = true;
  calls = 0;
  pings = 0;
  connected = true;
  healed = false;
  constructor(private readonly mode: 'silent' | 'failing') {}
  available(): boolean {
    return this.connected;
  }
  consume(): Promise<RateLimitDecision> {
    this.calls++;
    return this.answer(decision);
  }
  ping(): Promise<unknown> {
    this.pings++;
    return this.answer('PONG');
  }
  private answer<T>(value: T): Promise<T> {
    if (this.healed) return Promise.resolve(value);
    return this.mode === 'silent' ? new Promise(() => undefined) : Promise.reject(new Error('READONLY'));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function eventually(check: () => boolean, timeoutMs: number): Promise<void> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('RateLimitService', () => {
  describe('a store that answers while this process is busy', () => {
    let server: Worker;
    let client: Socket;
    let store: SocketStore;

    beforeAll(async () => {
      // The "store" runs on its own thread, like Redis in its own process: it answers while this thread is busy.
      server = new Worker(
        `const { createServer } = require('node:net');
         const { parentPort } = require('node:worker_threads');
         const server = createServer((socket) => socket.on('error', () => undefined).on('data', (chunk) => socket.write(chunk)));
         server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
        { eval: true },
      );
      const [port] = (await once(server, 'message')) as [number];
      client = connect(port, '127.0.0.1');
      await once(client, 'connect');
      store = new SocketStore(client);
    });

    afterAll(async () => {
      client.destroy();
      await server.terminate();
    });

    it('uses the answer when the loop was busy for longer than the store timeout before the call was even sent', async () => {
      const service = new RateLimitService(store, config);
      const outcome = service.consume(request);
      blockEventLoop(config.rateLimitStoreTimeoutMs + 200);
      expect(await outcome).toEqual({ decided: decision });
      expect(service.breakerState).toBe('closed');
    });

    it('uses the answer that arrived while the loop was busy for longer than the store timeout', async () => {
      const service = new RateLimitService(store, config);
      const outcome = service.consume(request);
      // Let the call go out and the answer come back into the socket, then keep the loop from reading it.
      await new Promise((resolve) => setImmediate(resolve));
      blockEventLoop(config.rateLimitStoreTimeoutMs + 200);
      expect(await outcome).toEqual({ decided: decision });
    });
  });

  it('does not call a store that is not connected: a fault at once', async () => {
    const store = new StuckStore('silent');
    store.connected = false;
    const service = new RateLimitService(store, config);
    const started = performance.now();
    expect(await service.consume(request)).toEqual({ unavailable: 'not connected' });
    expect(performance.now() - started).toBeLessThan(config.rateLimitStoreTimeoutMs);
    expect(store.calls).toBe(0);
  });

  it('gives up on a silent store after the store timeout; after enough faults the breaker answers without calling', async () => {
    const store = new StuckStore('silent');
    const service = new RateLimitService(store, config);
    const started = performance.now();
    const outcomes = await Promise.all(Array.from({ length: config.rateLimitBreakerFaults }, () => service.consume(request)));
    expect(performance.now() - started).toBeGreaterThanOrEqual(config.rateLimitStoreTimeoutMs - 5);
    expect(outcomes).toEqual(Array.from({ length: config.rateLimitBreakerFaults }, () => ({ unavailable: `no answer within ${config.rateLimitStoreTimeoutMs} ms` })));
    expect(service.breakerState).toBe('open');
    const calls = store.calls;
    expect(await service.consume(request)).toEqual({ unavailable: 'circuit breaker open after repeated faults' });
    expect(store.calls).toBe(calls);
  });

  it('after the cooldown probes with a background ping: no request waits for it, and an answer closes the breaker', async () => {
    const store = new StuckStore('silent');
    const service = new RateLimitService(store, config);
    await Promise.all(Array.from({ length: config.rateLimitBreakerFaults }, () => service.consume(request)));
    expect(service.breakerState).toBe('open');
    await sleep(config.rateLimitBreakerCooldownMs);

    // Still hung: the probe goes out, the request that triggered it is decided at once; the probe times out.
    const calls = store.calls;
    expect(await service.consume(request)).toEqual({ unavailable: 'circuit breaker open after repeated faults' });
    expect(store.pings).toBe(1);
    expect(service.breakerState).toBe('half-open');
    expect(await service.consume(request)).toEqual({ unavailable: 'circuit breaker open after repeated faults' });
    expect(store.pings).toBe(1);
    // The probe times out (the store timeout, in responsive time: later in wall time on a busy machine).
    await eventually(() => service.breakerState === 'open', config.rateLimitStoreTimeoutMs * 5);

    // Healed: the next probe's answer closes the breaker, and requests are decided by the store again.
    store.healed = true;
    await sleep(config.rateLimitBreakerCooldownMs);
    await service.consume(request);
    expect(store.pings).toBe(2);
    await eventually(() => service.breakerState === 'closed', config.rateLimitStoreTimeoutMs);
    expect(await service.consume(request)).toEqual({ decided: decision });
    expect(store.calls).toBe(calls + 1);
  });

  it('counts failing calls towards the breaker too', async () => {
    const store = new StuckStore('failing');
    const service = new RateLimitService(store, config);
    for (let i = 0; i < config.rateLimitBreakerFaults; i++) expect(await service.consume(request)).toEqual({ unavailable: 'READONLY' });
    expect(service.breakerState).toBe('open');
  });

  it('never finds the in-memory store unavailable', async () => {
    const service = new RateLimitService(new MemoryRateLimitStorage(), config);
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => service.consume(request)));
    expect(outcomes.filter((outcome) => 'decided' in outcome && outcome.decided.allowed)).toHaveLength(10);
    expect(outcomes.every((outcome) => 'decided' in outcome)).toBe(true);
  });
});
