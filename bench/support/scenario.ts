import type { BenchServer } from './server-process.js';

/** One endpoint under load. */
export interface Endpoint {
  /** Row label in the results table. */
  label: string;
  /** Path on the bench server, e.g. `/bench/bare`. */
  path: string;
  /** Another server in the same process (e.g. a peer app): its base URL instead of the bench server's. */
  base?: string;
  /** A peer (another library's limiter): aims such as `aboveEveryPeer` compare against these rows. */
  peer?: boolean;
  headers?: Record<string, string>;
  /** GET unless set. */
  method?: 'GET' | 'POST';
  /** A JSON body, made afresh for every request (e.g. with unique idempotency keys). */
  body?: () => string;
  /** Units of work each request carries (e.g. 100 events per ingest batch): the report adds units/s = req/s × count. */
  unitsPerRequest?: { count: number; unit: string };
  /**
   * Work the server still does for a run after its last response (e.g. a stream consumer writing what was answered
   * to the ledger): awaited after the load, before the server's CPU is read, so the CPU per request includes it.
   * Resolves with how long it took (ms), which the report gives.
   */
  settle?: () => Promise<number>;
  /** What this endpoint should achieve relative to the baseline (reported, never fails the run); a list: one line each. */
  aim?: Aim | Aim[];
}

/** Figures of one endpoint: the mean over the measured rounds. */
export interface EndpointResult {
  endpoint: Endpoint;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Throughput relative to the baseline (1 for the baseline itself). */
  ratio: number;
  /** p99 minus the baseline's p99. */
  addedP99Ms: number;
  /** req/s of each round, to show the spread. */
  roundsReqPerSec: number[];
  /** Server CPU time per request (µs, mean over rounds): the cost, independent of what else loads the machine. */
  serverCpuMicrosPerRequest: number;
  /** Median ms the settle step took after the load (endpoints with `settle` only). */
  settleMs?: number;
}

export interface Aim {
  description: string;
  /** `all`: every endpoint's result in the same scenario (the baseline first). */
  met(result: EndpointResult, baseline: EndpointResult, all: EndpointResult[]): boolean;
  /** Figures the verdict rests on, for the report (default: the ratio). */
  detail?(result: EndpointResult, baseline: EndpointResult, all: EndpointResult[]): string;
}

/**
 * A burst at a small limit: `requests` concurrent GETs against a fresh limiter of `limit` per minute; exact means
 * exactly `limit` are admitted. `warm` is fetched once first (not counted), e.g. to fill a key cache.
 */
export interface BurstProbe {
  label: string;
  base?: string;
  path: string;
  headers?: Record<string, string>;
  warm?: string;
  requests: number;
  limit: number;
}

export interface ScenarioPlan {
  baseline: Endpoint;
  candidates: Endpoint[];
}

/**
 * A benchmark: a baseline and candidates measured on one fresh bench server, alternated round by round.
 * Each file in bench/scenarios/ default-exports one; bench/run.ts runs them in file-name order.
 */
export interface Scenario {
  /** Short id, used by BENCH_SCENARIOS. */
  name: string;
  /** One line saying what is compared. */
  title: string;
  /** Environment for this scenario's server on top of the isolation's (e.g. REDIS_URL: '' for in-memory stores). */
  env?: Record<string, string>;
  plan(server: BenchServer): ScenarioPlan;
  /** Exactness probes, fired after the warm-up and before the measured rounds; reported in their own table. */
  probes?(server: BenchServer): BurstProbe[];
}

/** Aim: throughput at least `minimum` × the baseline's. */
export function throughputRatioAtLeast(minimum: number): Aim {
  return {
    description: `throughput ratio ≥ ${minimum.toFixed(2)}`,
    met: (result) => result.ratio >= minimum,
  };
}

export function addedP99Below(maximumMs: number): Aim {
  return {
    description: `added p99 < ${maximumMs} ms`,
    met: (result) => result.addedP99Ms < maximumMs,
    detail: (result) => `added p99 ${result.addedP99Ms >= 0 ? '+' : ''}${result.addedP99Ms.toFixed(2)} ms`,
  };
}

/** Aim: server CPU per request at most `maximum` × the baseline's (the cost, steadier than req/s on a busy machine). */
export function serverCpuRatioAtMost(maximum: number): Aim {
  return {
    description: `server CPU/request ≤ ${maximum.toFixed(2)}× baseline`,
    met: (result, baseline) => result.serverCpuMicrosPerRequest <= maximum * baseline.serverCpuMicrosPerRequest,
    detail: (result, baseline) =>
      `${Math.round(result.serverCpuMicrosPerRequest)} vs ${Math.round(baseline.serverCpuMicrosPerRequest)} µs/request = ${(result.serverCpuMicrosPerRequest / baseline.serverCpuMicrosPerRequest).toFixed(2)}×`,
  };
}

/** Every aim at once. */
export function allOf(...aims: Aim[]): Aim {
  return {
    description: aims.map((aim) => aim.description).join(' and '),
    met: (result, baseline, all) => aims.every((aim) => aim.met(result, baseline, all)),
  };
}

/** Aim: throughput ratio above that of every peer row (`peer: true`) in the same scenario. */
export function aboveEveryPeer(): Aim {
  const peers = (all: EndpointResult[]) => all.filter((other) => other.endpoint.peer);
  return {
    description: "throughput ratio above every peer's",
    met: (result, _baseline, all) => peers(all).length > 0 && peers(all).every((peer) => result.ratio > peer.ratio),
    detail: (result, _baseline, all) =>
      `ratio ${result.ratio.toFixed(3)} vs ${peers(all)
        .map((peer) => `${peer.endpoint.label} ${peer.ratio.toFixed(3)}`)
        .join(', ')}`,
  };
}
