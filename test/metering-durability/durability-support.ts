import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { checkFetched } from '../support/http.js';

/**
 * Shared by the metering-durability tests: a closed-loop load generator that remembers which
 * Idempotency-Keys were answered 2xx, and the ledger checks every test ends with.
 */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

/** Polls `condition` every `intervalMs` until it holds; throws `describe()` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, describe: () => string, intervalMs = 50): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await sleep(intervalMs);
  }
}

/** Spooled batches waiting for replay in `<dataDir>/spool` (the quarantine folder `failed/` excluded). */
export function spoolFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'spool');
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.jsonl')).sort() : [];
}

export function quarantinedFiles(dataDir: string): string[] {
  const dir = join(dataDir, 'spool', 'failed');
  return existsSync(dir) ? readdirSync(dir) : [];
}

export interface LoadStats {
  /** Every Idempotency-Key sent (a request may have been recorded without its answer reaching us). */
  sent: Set<string>;
  /** Keys answered 2xx: the service promised these are durable. */
  acked: Set<string>;
  /** Per status (0 = no HTTP answer: connection refused/reset, timeout). */
  statuses: Map<number, number>;
  /** Keys answered 2xx while `whileFlag()` was true at the moment the answer arrived. */
  ackedWhileFlag: Set<string>;
  /** Requests sent and not yet answered, right now. */
  inFlight: number;
}

export interface Load {
  stats: LoadStats;
  /** Stops issuing requests and waits for the ones in flight to settle. */
  stop(): Promise<LoadStats>;
}

/**
 * `concurrency` loops, each sending GET `url` one after another, every request with a fresh
 * Idempotency-Key. A key counts as acknowledged as soon as a 2xx status line arrives: the service sends
 * it only after the event is durable, whether or not the body then makes it through.
 */
export function startLoad(options: {
  url: string;
  apiKey: string;
  concurrency: number;
  /** Pause after a request that got no HTTP answer (the server is down). */
  errorPauseMs?: number;
  requestTimeoutMs?: number;
  whileFlag?: () => boolean;
}): Load {
  const run = randomBytes(4).toString('hex');
  const stats: LoadStats = { sent: new Set(), acked: new Set(), statuses: new Map(), ackedWhileFlag: new Set(), inFlight: 0 };
  let stopping = false;
  // Contract mismatches are collected, not thrown: a worker must keep its pace; stop() reports them.
  const mismatches: string[] = [];
  const count = (status: number) => stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);

  const loop = async (worker: number) => {
    for (let n = 0; !stopping; n++) {
      const key = `dur-${run}-${worker}-${n}`;
      stats.sent.add(key);
      stats.inFlight++;
      let response: Response;
      const init = { headers: { 'x-api-key': options.apiKey, 'idempotency-key': key }, signal: AbortSignal.timeout(options.requestTimeoutMs ?? 15_000) };
      try {
        response = await fetch(options.url, init);
      } catch {
        stats.inFlight--;
        count(0);
        if (!stopping) await sleep(options.errorPauseMs ?? 20);
        continue;
      }
      stats.inFlight--;
      if (response.status >= 200 && response.status < 300) {
        stats.acked.add(key);
        if (options.whileFlag?.()) stats.ackedWhileFlag.add(key);
      }
      count(response.status);
      const body = await response.arrayBuffer().catch(() => undefined);
      // Checked after the load's own read (a body cut off by a kill is not an answer to check).
      if (body) await checkFetched(options.url, init, response, body).catch((error: Error) => mismatches.push(error.message));
    }
  };
  const loops = Array.from({ length: options.concurrency }, (_, worker) => loop(worker));
  return {
    stats,
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
      if (mismatches.length) throw new Error(`${mismatches.length} load responses off the OpenAPI document:\n${[...new Set(mismatches)].slice(0, 5).join('\n')}`);
      return stats;
    },
  };
}

export function describeStatuses(stats: LoadStats): string {
  return [...stats.statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, n]) => `${status || 'no answer'}: ${n}`)
    .join(', ');
}

type Query = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;

export interface LedgerSnapshot {
  /** idempotency_key → number of rows (more than 1 would be a double count). */
  keys: Map<string, number>;
  eventCount: number;
  ledgerSum: number;
  counterSum: number;
  /** Per meter and period: counter total vs the ledger's sum; only the disagreeing ones. */
  mismatches: Array<{ meter: string; periodStart: string; counter: number; ledger: number }>;
}

export async function ledgerSnapshot(query: Query, customerId: string): Promise<LedgerSnapshot> {
  const events = await query<{ idempotency_key: string; n: string }>(
    'SELECT idempotency_key, count(*)::text AS n FROM usage_events WHERE customer_id = $1 GROUP BY idempotency_key',
    [customerId],
  );
  const ledger = await query<{ meter: string; period_start: string; sum: string }>(
    `SELECT meter, period_start::text AS period_start, sum(quantity)::text AS sum
       FROM usage_events WHERE customer_id = $1 GROUP BY meter, period_start`,
    [customerId],
  );
  const counters = await query<{ meter: string; period_start: string; total: string }>(
    'SELECT meter, period_start::text AS period_start, total::text AS total FROM usage_counters WHERE customer_id = $1',
    [customerId],
  );
  const keys = new Map(events.map((row) => [row.idempotency_key, Number(row.n)]));
  const byGroup = new Map<string, { meter: string; periodStart: string; counter: number; ledger: number }>();
  const group = (meter: string, periodStart: string) => {
    const id = `${meter}\u0000${periodStart}`;
    let entry = byGroup.get(id);
    if (!entry) byGroup.set(id, (entry = { meter, periodStart, counter: 0, ledger: 0 }));
    return entry;
  };
  for (const row of ledger) group(row.meter, row.period_start).ledger += Number(row.sum);
  for (const row of counters) group(row.meter, row.period_start).counter += Number(row.total);
  const groups = [...byGroup.values()];
  return {
    keys,
    eventCount: [...keys.values()].reduce((a, b) => a + b, 0),
    ledgerSum: groups.reduce((sum, g) => sum + g.ledger, 0),
    counterSum: groups.reduce((sum, g) => sum + g.counter, 0),
    mismatches: groups.filter((g) => g.counter !== g.ledger),
  };
}

/**
 * The durability promise, checked on one customer's ledger: every acknowledged key is there, no key is
 * there twice, nothing is there that was never sent, and the counters equal the ledger's sums.
 */
export function expectLedgerHonours(snapshot: LedgerSnapshot, stats: Pick<LoadStats, 'sent' | 'acked'>): void {
  const missing = [...stats.acked].filter((key) => !snapshot.keys.has(`idem:${key}`));
  expect({ ackedButMissing: missing.length, sample: missing.slice(0, 10) }).toEqual({ ackedButMissing: 0, sample: [] });
  const doubled = [...snapshot.keys.entries()].filter(([, n]) => n > 1);
  expect(doubled).toEqual([]);
  const unknown = [...snapshot.keys.keys()].filter((key) => !key.startsWith('idem:') || !stats.sent.has(key.slice(5)));
  expect(unknown).toEqual([]);
  expect(snapshot.mismatches).toEqual([]);
  expect(snapshot.counterSum).toBe(snapshot.ledgerSum);
}
