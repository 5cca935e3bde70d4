// `npm run bench:sizing`: the figures behind README's "Scaling past one machine". One bench server (a child
// process, bench/support/server.ts) runs two Tollgate apps on one fresh Postgres schema: the direct transport and
// the jetstream one, on a private nats-server. Four loads alternate round by round — metered GETs (one event per
// request) and POST /v1/events batches of 100, each on both transports — and for each run this measures, per event:
// the Node process's CPU (both apps and the stream consumer), the CPU of the Postgres backends serving that process
// (found through its own connections, so other clients of the server do not count), and the nats-server's CPU.
// A jetstream run ends when its stream is empty, i.e. every event answered is in the ledger; the CPU read then.
// Real Postgres on this machine only (DATABASE_URL; its backends' CPU comes from /proc). REDIS_URL is used if set.
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';
import { eventsBody, jetstreamApp } from './support/ingest-transport.js';
import { isolate, type Isolation } from './support/isolation.js';
import { runLoad } from './support/load.js';
import { postgresAuxiliaryPids, postgresBackendCpu, processCpuMicros } from './support/process-cpu.js';
import { JETSTREAM_ENV } from './support/protocol.js';
import { type BenchServer, killAllServers, startServer } from './support/server-process.js';
import { fixed, formatTable } from './support/table.js';

const number = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const SECONDS = number('SIZING_SECONDS', 10);
const ROUNDS = Math.round(number('SIZING_ROUNDS', 3));
const WARMUP_SECONDS = number('SIZING_WARMUP', 3);
const CONNECTIONS = Math.round(number('BENCH_CONNECTIONS', 50));
const BATCH = 100;
const DRAIN_TIMEOUT_MS = 120_000;

const log = (line: string) => process.stderr.write(`${line}\n`);
const out = (line = '') => process.stdout.write(`${line}\n`);

interface Load {
  label: string;
  transport: 'direct' | 'jetstream';
  url: string;
  headers: Record<string, string>;
  request: { method?: 'POST'; body?: () => string };
  eventsPerRequest: number;
  settle?: () => Promise<number>;
}

/** One run's figures, per event. */
interface Figures {
  answeredPerSecond: number;
  committedPerSecond: number;
  p99Ms: number;
  nodeMicros: number;
  postgresMicros: number;
  postgresAuxMicros: number;
  natsMicros: number;
  settleMs: number;
}

class Meter {
  constructor(
    private readonly server: BenchServer,
    private readonly admin: pg.Client,
    private readonly postgresPort: number,
    private readonly natsPid: number,
  ) {}

  async snapshot() {
    return {
      node: await this.server.cpuUsage(),
      backends: await postgresBackendCpu(this.admin, this.server.pid, this.postgresPort),
      aux: new Map(postgresAuxiliaryPids().map((pid) => [pid, processCpuMicros(pid) ?? 0])),
      nats: processCpuMicros(this.natsPid) ?? Number.NaN,
    };
  }
}

type Snapshot = Awaited<ReturnType<Meter['snapshot']>>;

/** CPU the processes of `after` used since `before`; one that appeared meanwhile counts from zero. */
function spent(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, micros] of after) sum += micros - (before.get(pid) ?? 0);
  return sum;
}

/** Usage units in the run's ledger counters: every event here has quantity 1, so this is the events committed. */
async function committedEvents(admin: pg.Client, schema: string): Promise<number> {
  const { rows } = await admin.query<{ total: string }>(`SELECT coalesce(sum(total), 0)::bigint AS total FROM "${schema}".usage_counters`);
  return Number(rows[0].total);
}

/**
 * Waits until the ledger stops growing: requests still in flight when the load generator stopped are served (and
 * cost CPU) after it, so a run's events are what reached the ledger, not only the responses it counted.
 */
async function quiesce(admin: pg.Client, schema: string, settle?: () => Promise<number>): Promise<number> {
  let settled = settle ? await settle() : 0;
  for (let previous = -1, current = await committedEvents(admin, schema); ; previous = current, current = await committedEvents(admin, schema)) {
    if (current === previous) return settled;
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (settle) settled += await settle();
  }
}

async function run(load: Load, meter: Meter, admin: pg.Client, schema: string, seconds: number): Promise<Figures & { errors: number; problem: string | null; answered: number; events: number }> {
  const before: Snapshot = await meter.snapshot();
  const eventsBefore = await committedEvents(admin, schema);
  const result = await runLoad(load.url, load.headers, { connections: CONNECTIONS, pipelining: 1, durationSeconds: seconds }, load.request);
  const settleMs = await quiesce(admin, schema, load.settle);
  const after: Snapshot = await meter.snapshot();
  const events = (await committedEvents(admin, schema)) - eventsBefore;
  const answered = result.requests * load.eventsPerRequest;
  return {
    answered,
    events,
    errors: result.errors + result.non2xx,
    problem:
      result.errors + result.non2xx === 0
        ? null
        : `${load.label}: ${result.errors} request errors (${result.timeouts} timeouts), ${result.non2xx} non-2xx ${JSON.stringify(result.statusCodes)}` +
          (result.errorSamples.length > 0 ? `; e.g. ${result.errorSamples.slice(0, 2).join(' | ')}` : ''),
    answeredPerSecond: answered / result.seconds,
    committedPerSecond: events / (result.seconds + settleMs / 1000),
    p99Ms: result.p99Ms,
    nodeMicros: (after.node - before.node) / events,
    postgresMicros: spent(before.backends, after.backends) / events,
    postgresAuxMicros: spent(before.aux, after.aux) / events,
    natsMicros: (after.nats - before.nats) / events,
    settleMs,
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
/** "median (min–max)" over the rounds. */
const spread = (values: number[], digits: number) =>
  `${fixed(median(values), digits)} (${fixed(Math.min(...values), digits)}–${fixed(Math.max(...values), digits)})`;

async function main(): Promise<number> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    out('sizing: skipped (set DATABASE_URL to a Postgres on this machine: its backends\' CPU is read from /proc)');
    return 0;
  }
  const adminToken = randomBytes(24).toString('base64url');
  const customerId = `cus_bench_sizing_${randomBytes(4).toString('hex')}`;
  // A private nats-server even when NATS_URL is set: its CPU must be this run's alone.
  const serverEnv = { [JETSTREAM_ENV]: '1', BENCH_ADMIN_TOKEN: adminToken, BENCH_INGEST_CUSTOMER_ID: customerId };
  const environment: NodeJS.ProcessEnv = { ...process.env, ...serverEnv };
  delete environment.NATS_URL;
  const startLoad = loadavg()[0];
  const isolation: Isolation = await isolate(environment);
  const admin = new pg.Client({ connectionString: databaseUrl });
  let server: BenchServer | null = null;
  const abort = () => {
    killAllServers();
    void isolation.dispose().finally(() => process.exit(130));
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    await admin.connect();
    log(`sizing: ${isolation.description}`);
    server = await startServer({ ...isolation.env, ...serverEnv });
    const jetstream = jetstreamApp(server);
    const batch = (transport: 'direct' | 'jetstream'): Load => ({
      label: `${transport}: POST /v1/events ×${BATCH}`,
      transport,
      url: `${transport === 'direct' ? server!.url : jetstream.base}/v1/events`,
      headers: { authorization: `Bearer ${adminToken}` },
      request: { method: 'POST', body: eventsBody(customerId, BATCH) },
      eventsPerRequest: BATCH,
      settle: transport === 'jetstream' ? jetstream.settle : undefined,
    });
    const loads: Load[] = [
      { label: 'direct: metered GET', transport: 'direct', url: `${server.url}/v1/basic/metered`, headers: { 'x-api-key': server.apiKey }, request: {}, eventsPerRequest: 1 },
      {
        label: 'jetstream: metered GET',
        transport: 'jetstream',
        url: `${jetstream.base}/v1/basic/metered`,
        headers: { 'x-api-key': jetstream.apiKey },
        request: {},
        eventsPerRequest: 1,
        settle: jetstream.settle,
      },
      batch('direct'),
      batch('jetstream'),
    ];
    const meter = new Meter(server, admin, Number(new URL(databaseUrl).port || 5432), isolation.natsPid!);
    const guard = setTimeout(() => {
      log('sizing overran its time budget');
      abort();
    }, (loads.length * (ROUNDS * (SECONDS + DRAIN_TIMEOUT_MS / 1000) + WARMUP_SECONDS + 60) + 120) * 1000);
    guard.unref();

    const schema = isolation.env.BENCH_DATABASE_SCHEMA;
    let answered = 0;
    let failures = 0;
    const problems: string[] = [];
    for (const load of loads) {
      const warm = await run(load, meter, admin, schema, WARMUP_SECONDS);
      answered += warm.answered;
      failures += warm.errors;
      if (warm.problem) problems.push(`warm-up ${warm.problem}`);
      log(`  warm-up  ${load.label.padEnd(32)} ${fixed(warm.answeredPerSecond, 0)} events/s`);
    }
    const figures = new Map<Load, Figures[]>(loads.map((load) => [load, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const load of loads) {
        const figure = await run(load, meter, admin, schema, SECONDS);
        answered += figure.answered;
        failures += figure.errors;
        if (figure.problem) problems.push(`round ${round} ${figure.problem}`);
        figures.get(load)!.push(figure);
        log(
          `  round ${round}/${ROUNDS} ${load.label.padEnd(32)} ${fixed(figure.answeredPerSecond, 0).padStart(6)} events/s answered, ` +
            `${fixed(figure.committedPerSecond, 0)} committed; per event: node ${fixed(figure.nodeMicros, 1)} µs, ` +
            `Postgres backends ${fixed(figure.postgresMicros, 1)} µs (+ shared ${fixed(figure.postgresAuxMicros, 1)}), nats-server ${fixed(figure.natsMicros, 1)} µs` +
            (load.settle ? `; stream empty ${fixed(figure.settleMs, 0)} ms after` : ''),
        );
      }
    }
    clearTimeout(guard);

    // Every answered event is in the ledger, once: as many rows as the counters hold, and at least every event
    // answered (more: requests in flight when a run's load stopped, served after it, not counted as answered).
    const { rows } = await admin.query<{ count: string }>(`SELECT count(*)::bigint AS count FROM "${schema}".usage_events`);
    const ledger = Number(rows[0].count);
    const counted = await committedEvents(admin, schema);
    const consistent = ledger === counted && ledger >= answered;

    out();
    out(
      `Tollgate sizing — ${CONNECTIONS} connections, ${ROUNDS} rounds × ${SECONDS} s per load (alternating), ${WARMUP_SECONDS} s warm-up; ` +
        `node ${process.version}, ${availableParallelism()} CPUs, load average (1 min) ${fixed(startLoad, 2)} at start, ${fixed(loadavg()[0], 2)} at end`,
    );
    out(`${isolation.description}; figures: median (min–max) over the rounds`);
    out();
    const rowsOut = loads.map((load) => {
      const runs = figures.get(load)!;
      const of = (pick: (figure: Figures) => number) => runs.map(pick);
      return [
        load.label,
        spread(of((f) => f.answeredPerSecond), 0),
        spread(of((f) => f.committedPerSecond), 0),
        spread(of((f) => f.p99Ms), 1),
        spread(of((f) => f.nodeMicros), 1),
        spread(of((f) => 1e6 / f.nodeMicros), 0),
        spread(of((f) => f.postgresMicros), 1),
        spread(of((f) => 1e6 / f.postgresMicros), 0),
        spread(of((f) => f.postgresAuxMicros), 1),
        load.transport === 'jetstream' ? spread(of((f) => f.natsMicros), 1) : '—',
      ];
    });
    out(
      formatTable(
        [
          'load',
          'events/s answered',
          'events/s committed',
          'p99 ms/request',
          'instance CPU µs/event',
          'events/s per instance core',
          'Postgres backend CPU ms/1000 events',
          'events/s per Postgres core',
          'shared Postgres processes µs/event',
          'nats-server CPU µs/event',
        ],
        rowsOut,
        [false, true, true, true, true, true, true, true, true, true],
      ),
    );
    out();
    out(
      '"committed": events that reached the ledger (requests in flight at the end included) over the load time plus the time ' +
        'the ledger took to stop growing afterwards (the stream to empty, for jetstream). CPU figures are per committed event. ' +
        '"per core": 1 s of CPU divided by the CPU one event took. "shared Postgres processes": WAL writer, background writer, ' +
        'checkpointer — shared with every other client of this Postgres, so an upper bound.',
    );
    out(
      `ledger check: ${ledger} event rows, counters ${counted}, ${answered} events answered within the runs' time ` +
        (consistent ? '— consistent (rows = counters ≥ answered)' : '— INCONSISTENT'),
    );
    if (failures > 0) out(`FAILED: ${failures} requests errored or got non-2xx responses:\n  ${problems.join('\n  ')}`);
    return failures === 0 && consistent ? 0 : 1;
  } finally {
    await server?.stop();
    await admin.end().catch(() => undefined);
    await isolation.dispose();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    killAllServers();
    log(`sizing failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  },
);
