/** Knobs of a bench run, from the environment (see bench/README.md). */
export interface BenchSettings {
  /** Seconds of each measured run (one endpoint, one round). */
  durationSeconds: number;
  /** Seconds of load on each endpoint before measuring (JIT, key cache, connection pools). */
  warmupSeconds: number;
  /** Rounds of the A/B/A/B alternation; each endpoint's figures are the median over rounds. */
  rounds: number;
  connections: number;
  pipelining: number;
  /** Only the scenarios with these names (BENCH_SCENARIOS=guards,other); empty = all. */
  only: string[];
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, integer: boolean): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

export function readSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  return {
    durationSeconds: positive(env, 'BENCH_DURATION', 5, false),
    warmupSeconds: positive(env, 'BENCH_WARMUP', 2, false),
    rounds: positive(env, 'BENCH_ROUNDS', 3, true),
    connections: positive(env, 'BENCH_CONNECTIONS', 50, true),
    pipelining: 1,
    only: (env.BENCH_SCENARIOS ?? '')
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name.length > 0),
  };
}
