// `npm run bench`: load benchmarks on loopback. Each scenario (bench/scenarios/*.ts) gets a fresh bench server in a
// child process and compares candidate endpoints with a baseline measured in the same run, alternating them
// round by round. Aims are reported, not enforced; request errors and non-2xx responses fail the run.
import { readdirSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { isolate, type Isolation } from './support/isolation.js';
import { runLoad, type Measurement } from './support/load.js';
import { burst, once, type BurstResult } from './support/burst.js';
import type { BurstProbe, Endpoint, EndpointResult, Scenario } from './support/scenario.js';
import { killAllServers, startServer, type BenchServer } from './support/server-process.js';
import { readSettings, type BenchSettings } from './support/settings.js';
import { fixed, formatTable, signed } from './support/table.js';
import { Watchdog } from './support/watchdog.js';

interface ScenarioOutcome {
  scenario: Scenario;
  setup: string;
  results: EndpointResult[];
  /** Exactness probes (scenario.probes) and what each got. */
  bursts: Array<{ probe: BurstProbe; result: BurstResult }>;
  /** Request errors / non-2xx responses, one line per endpoint that had any. */
  problems: string[];
}

const log = (line: string) => process.stderr.write(`${line}\n`);
/** The median: on a 2-core machine shared by the load generator, one disturbed round must not move the figure. */
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

const active = new Set<Isolation>();
let aborting = false;

/** Watchdog or signal: stop the servers, clean up what can be cleaned within a few seconds, exit. */
function abort(reason: string, code: number): void {
  if (aborting) return;
  aborting = true;
  log(`bench aborted: ${reason}`);
  killAllServers();
  const cleanup = Promise.allSettled([...active].map((isolation) => isolation.dispose()));
  const limit = new Promise((resolve) => setTimeout(resolve, 5000).unref());
  void Promise.race([cleanup, limit]).finally(() => process.exit(code));
}

const watchdog = new Watchdog((step) => abort(step, 1));
process.once('SIGINT', () => abort('interrupted', 130));
process.once('SIGTERM', () => abort('terminated', 143));

async function loadScenarios(only: string[]): Promise<Scenario[]> {
  const directory = new URL('./scenarios/', import.meta.url);
  const files = readdirSync(directory)
    .filter((file) => file.endsWith('.js'))
    .sort();
  const scenarios: Scenario[] = [];
  for (const file of files) {
    const module = (await import(new URL(file, directory).href)) as { default?: Scenario };
    if (!module.default) throw new Error(`bench/scenarios/${file} has no default export`);
    scenarios.push(module.default);
  }
  const unknown = only.filter((name) => !scenarios.some((scenario) => scenario.name === name));
  if (unknown.length > 0) {
    throw new Error(`BENCH_SCENARIOS names unknown scenarios: ${unknown.join(', ')} (known: ${scenarios.map((s) => s.name).join(', ')})`);
  }
  return only.length > 0 ? scenarios.filter((scenario) => only.includes(scenario.name)) : scenarios;
}

function problemsOf(endpoint: Endpoint, runs: Measurement[]): string | null {
  const errors = runs.reduce((sum, run) => sum + run.errors, 0);
  const timeouts = runs.reduce((sum, run) => sum + run.timeouts, 0);
  const non2xx = runs.reduce((sum, run) => sum + run.non2xx, 0);
  if (errors === 0 && non2xx === 0) return null;
  const codes = new Map<string, number>();
  for (const run of runs) {
    for (const [code, count] of Object.entries(run.statusCodes)) {
      if (!code.startsWith('2')) codes.set(code, (codes.get(code) ?? 0) + count);
    }
  }
  const samples = [...new Set(runs.flatMap((run) => run.errorSamples))].slice(0, 3);
  return (
    `${endpoint.label}: ${errors} request errors (${timeouts} timeouts), ${non2xx} non-2xx responses` +
    (codes.size > 0 ? ` [${[...codes].map(([code, count]) => `${code}×${count}`).join(', ')}]` : '') +
    (samples.length > 0 ? `; e.g. ${samples.join(' | ')}` : '')
  );
}

/** One load run plus the server CPU time it cost per request (and how long its settle step took, if it has one). */
type Run = Measurement & { serverCpuMicrosPerRequest: number; settleMs?: number };

/** Most a settle step may take before the run fails: the server is not keeping up, or is stuck. */
const SETTLE_BUDGET_MS = 60_000;

async function measure(server: BenchServer, endpoint: Endpoint, settings: BenchSettings, seconds: number, step: string): Promise<Run> {
  watchdog.arm(seconds + 30 + (endpoint.settle ? SETTLE_BUDGET_MS / 1000 : 0), step);
  const cpuBefore = await server.cpuUsage();
  const load = await runLoad(
    `${endpoint.base ?? server.url}${endpoint.path}`,
    endpoint.headers ?? {},
    { connections: settings.connections, pipelining: settings.pipelining, durationSeconds: seconds },
    { method: endpoint.method, body: endpoint.body },
  );
  const settleMs = endpoint.settle ? await endpoint.settle() : undefined;
  const cpu = (await server.cpuUsage()) - cpuBefore;
  watchdog.disarm();
  const run = { ...load, serverCpuMicrosPerRequest: load.requests > 0 ? cpu / load.requests : Number.NaN, settleMs };
  log(
    `  ${step.padEnd(52)} ${fixed(run.reqPerSec, 0).padStart(6)} req/s  p50 ${fixed(run.p50Ms, 2)} ms  p99 ${fixed(run.p99Ms, 2)} ms  ` +
      `server CPU ${fixed(run.serverCpuMicrosPerRequest, 0)} µs/req` +
      (settleMs === undefined ? '' : `  settled ${fixed(settleMs, 0)} ms after`) +
      (run.errors + run.non2xx > 0 ? `  (${run.errors} errors, ${run.non2xx} non-2xx)` : ''),
  );
  return run;
}

async function runScenario(scenario: Scenario, settings: BenchSettings): Promise<ScenarioOutcome> {
  watchdog.arm(30, `${scenario.name}: preparing the database`);
  // The scenario's env counts: a scenario that sets REDIS_URL gets (and cleans up) a Redis prefix of its own.
  const isolation = await isolate({ ...process.env, ...scenario.env });
  active.add(isolation);
  let server: BenchServer | null = null;
  try {
    log(`\n${scenario.name}: ${scenario.title}\n  server: ${isolation.description}`);
    watchdog.arm(90, `${scenario.name}: starting the server`);
    server = await startServer({ ...isolation.env, ...scenario.env });
    watchdog.disarm();
    const plan = scenario.plan(server);
    const endpoints = [plan.baseline, ...plan.candidates];
    const all = new Map<Endpoint, Run[]>(endpoints.map((endpoint) => [endpoint, []]));
    const measured = new Map<Endpoint, Run[]>(endpoints.map((endpoint) => [endpoint, []]));

    for (const endpoint of endpoints) {
      all.get(endpoint)!.push(await measure(server, endpoint, settings, settings.warmupSeconds, `warm-up  ${endpoint.label}`));
    }
    const problemsNow = () => endpoints.map((endpoint) => problemsOf(endpoint, all.get(endpoint)!)).filter((p): p is string => p !== null);
    if (problemsNow().length > 0) {
      // No point measuring an endpoint that fails: report and move on.
      return { scenario, setup: isolation.description, results: [], bursts: [], problems: problemsNow() };
    }
    const bursts: ScenarioOutcome['bursts'] = [];
    const burstProblems: string[] = [];
    for (const probe of scenario.probes?.(server) ?? []) {
      watchdog.arm(30, `${scenario.name}: exactness probe ${probe.label}`);
      const base = probe.base ?? server.url;
      if (probe.warm) {
        const status = await once(`${base}${probe.warm}`, probe.headers ?? {});
        if (status !== 200) burstProblems.push(`${probe.label}: warm-up GET ${probe.warm} answered ${status}`);
      }
      const result = await burst(`${base}${probe.path}`, probe.headers ?? {}, probe.requests);
      watchdog.disarm();
      log(`  exactness ${probe.label.padEnd(42)} admitted ${result.admitted} of ${result.sent} (limit ${probe.limit}), refused ${result.refused}`);
      if (Object.keys(result.other).length > 0) {
        burstProblems.push(`${probe.label}: ${Object.entries(result.other).map(([code, count]) => `${code}×${count}`).join(', ')} besides 2xx/429`);
      }
      bursts.push({ probe, result });
    }
    for (let round = 1; round <= settings.rounds; round++) {
      for (const endpoint of endpoints) {
        const run = await measure(server, endpoint, settings, settings.durationSeconds, `round ${round}/${settings.rounds} ${endpoint.label}`);
        all.get(endpoint)!.push(run);
        measured.get(endpoint)!.push(run);
      }
    }

    const figures = endpoints.map((endpoint) => {
      const runs = measured.get(endpoint)!;
      return {
        endpoint,
        reqPerSec: median(runs.map((run) => run.reqPerSec)),
        p50Ms: median(runs.map((run) => run.p50Ms)),
        p99Ms: median(runs.map((run) => run.p99Ms)),
        roundsReqPerSec: runs.map((run) => run.reqPerSec),
        serverCpuMicrosPerRequest: median(runs.map((run) => run.serverCpuMicrosPerRequest)),
        settleMs: endpoint.settle ? median(runs.map((run) => run.settleMs ?? Number.NaN)) : undefined,
      };
    });
    const base = figures[0];
    const results = figures.map((figure) => ({
      ...figure,
      ratio: figure.reqPerSec / base.reqPerSec,
      addedP99Ms: figure.p99Ms - base.p99Ms,
    }));
    return { scenario, setup: isolation.description, results, bursts, problems: [...problemsNow(), ...burstProblems] };
  } finally {
    watchdog.arm(30, `${scenario.name}: stopping the server and cleaning up`);
    await server?.stop();
    await isolation.dispose();
    active.delete(isolation);
    watchdog.disarm();
  }
}

function report(outcomes: ScenarioOutcome[], settings: BenchSettings, startLoad: number): boolean {
  const rows: string[][] = [];
  const aims: string[] = [];
  for (const { scenario, results } of outcomes) {
    const [baseline] = results;
    for (const [index, result] of results.entries()) {
      const isBaseline = index === 0;
      rows.push([
        `${scenario.name}: ${result.endpoint.label}${isBaseline ? ' (baseline)' : ''}`,
        fixed(result.reqPerSec, 0),
        fixed(result.p50Ms, 2),
        fixed(result.p99Ms, 2),
        fixed(result.ratio, 3),
        isBaseline ? '—' : signed(result.addedP99Ms, 2),
        fixed(result.serverCpuMicrosPerRequest, 0),
      ]);
      const endpointAims = result.endpoint.aim === undefined ? [] : [result.endpoint.aim].flat();
      for (const aim of isBaseline ? [] : endpointAims) {
        const met = aim.met(result, baseline, results);
        const detail = aim.detail ? aim.detail(result, baseline, results) : `ratio ${fixed(result.ratio, 3)}`;
        aims.push(`${scenario.name}: ${result.endpoint.label}: aim ${aim.description} → ${met ? 'MET' : 'NOT MET'} (${detail})`);
      }
    }
  }
  const burstRows = outcomes.flatMap(({ scenario, bursts }) =>
    bursts.map(({ probe, result }) => [
      `${scenario.name}: ${probe.label}`,
      `${probe.requests} at once, limit ${probe.limit}/min`,
      String(result.admitted),
      String(result.refused),
      Object.keys(result.other).length > 0 ? Object.entries(result.other).map(([code, count]) => `${code}×${count}`).join(', ') : '—',
      result.admitted === probe.limit && Object.keys(result.other).length === 0 ? 'EXACT' : `NOT EXACT (${signed(result.admitted - probe.limit, 0)})`,
    ]),
  );
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(
    `Tollgate bench — ${settings.connections} connections, pipelining ${settings.pipelining}, ` +
      `${settings.rounds} rounds × ${settings.durationSeconds} s per endpoint (alternating), ${settings.warmupSeconds} s warm-up; ` +
      `node ${process.version}, ${availableParallelism()} CPUs, load average (1 min) ${fixed(startLoad, 2)} at start, ${fixed(loadavg()[0], 2)} at end`,
  );
  for (const { scenario, setup } of outcomes) out(`${scenario.name}: ${scenario.title} — ${setup}`);
  out();
  if (rows.length > 0) {
    out(
      formatTable(
        ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'ratio vs baseline', 'added p99 ms', 'server CPU µs/req'],
        rows,
        [false, true, true, true, true, true, true],
      ),
    );
    out();
    for (const { scenario, results } of outcomes) {
      for (const result of results) {
        out(
          `${scenario.name}: ${result.endpoint.label}: req/s per round ${result.roundsReqPerSec.map((value) => fixed(value, 0)).join(', ')}; ` +
            `server CPU ${fixed(result.serverCpuMicrosPerRequest, 0)} µs/req` +
            (result.settleMs === undefined ? '' : ` (settle step included: median ${fixed(result.settleMs, 0)} ms after the load)`),
        );
        const units = result.endpoint.unitsPerRequest;
        if (units) {
          out(
            `${scenario.name}: ${result.endpoint.label}: ${fixed(result.reqPerSec * units.count, 0)} ${units.unit}/s ` +
              `(${units.count} ${units.unit} per request; per round ${result.roundsReqPerSec.map((value) => fixed(value * units.count, 0)).join(', ')}), ` +
              `p99 ${fixed(result.p99Ms, 2)} ms per request`,
          );
        }
      }
    }
    out();
  }
  if (burstRows.length > 0) {
    out('Exactness: concurrent requests against a fresh limiter (exact = admits exactly the limit)');
    out(formatTable(['limiter', 'burst', 'admitted', 'refused (429)', 'other', 'verdict'], burstRows, [false, false, true, true, false, false]));
    out();
  }
  for (const aim of aims) out(aim);
  const problems = outcomes.flatMap((outcome) => outcome.problems.map((problem) => `${outcome.scenario.name}: ${problem}`));
  if (problems.length > 0) {
    out();
    out('FAILED: requests errored or got non-2xx responses:');
    for (const problem of problems) out(`  ${problem}`);
    return false;
  }
  out('All requests succeeded (no errors, no non-2xx responses).');
  return true;
}

async function main(): Promise<number> {
  const settings = readSettings();
  const startLoad = loadavg()[0];
  const scenarios = await loadScenarios(settings.only);
  const outcomes: ScenarioOutcome[] = [];
  for (const scenario of scenarios) outcomes.push(await runScenario(scenario, settings));
  return report(outcomes, settings, startLoad) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    watchdog.disarm();
    killAllServers();
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  },
);
