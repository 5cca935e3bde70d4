import type { BenchServer } from './server-process.js';

/** One endpoint under load. */
export interface Endpoint {
  /** Row label in the results table. */
  label: string;
  /** Path on the bench server, e.g. `/bench/bare`. */
  path: string;
  headers?: Record<string, string>;
  /** GET unless set. */
  method?: 'GET' | 'POST';
  /** A JSON body, made afresh for every request (e.g. with unique idempotency keys). */
  body?: () => string;
  /** Units of work each request carries (e.g. 100 events per ingest batch): the report adds units/s = req/s × count. */
  unitsPerRequest?: { count: number; unit: string };
  /** What this endpoint should achieve relative to the baseline (reported, never fails the run). */
  aim?: Aim;
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
}

export interface Aim {
  description: string;
  met(result: EndpointResult, baseline: EndpointResult): boolean;
  /** The figures the aim is judged on, for the report line (default: the throughput ratio). */
  detail?(result: EndpointResult, baseline: EndpointResult): string;
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
  };
}

/** Every aim at once. */
export function allOf(...aims: Aim[]): Aim {
  return {
    description: aims.map((aim) => aim.description).join(' and '),
    met: (result, baseline) => aims.every((aim) => aim.met(result, baseline)),
  };
}
