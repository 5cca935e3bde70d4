// `npm run bench:ledger` (and the third part of `npm run bench`): the ledger for years. Measures ingest
// (POST /v1/events, 100 events a request) and the usage query the portal shows (GET /v1/me/usage, one connection)
// on two services side by side, each in a child process: one on an empty schema, one on a schema holding
// BENCH_LEDGER_ROWS (10 M) ledger rows written by generate_series over the 12
// months before this one and this one, 1 000 customers plus the measured one. Aims: ingest at 10 M ≥ 0.9 of
// ingest at 0; usage p99 at 10 M < 20 ms. Real Postgres only (DATABASE_URL): 10 M rows are not for PGlite.
import 'reflect-metadata';
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createApp, listen } from '../src/bootstrap.js';
import { parseTierCatalog } from '../src/config/tier-catalog.js';
import { TollgateConfig } from '../src/config/tollgate-config.js';
import type { LogSink } from '../src/logging/log-sink.js';
import { runLoad, type Measurement } from './support/load.js';

const ROWS = Number(process.env.BENCH_LEDGER_ROWS ?? 10_000_000);
const SECONDS = Number(process.env.BENCH_LEDGER_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_LEDGER_ROUNDS ?? 3);
const EVENTS_PER_REQUEST = 100;
const CHUNK = 500_000;
const CUSTOMERS = 1_000;

class QuietSink implements LogSink {
  write(line: string): void {
    if (/"level":"(error|fatal)"/.test(line)) process.stderr.write(line);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Served {
  url: string;
  adminToken: string;
  customerId: string;
  secret: string;
}

/** Child mode: one service on the schema BENCH_LEDGER_SCHEMA, a customer and a key; tells the parent over IPC. */
async function serve(): Promise<void> {
  const adminToken = randomBytes(24).toString('base64url');
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-ledger-'));
  const config = TollgateConfig.create({
    port: 0,
    adminToken,
    databaseUrl: process.env.DATABASE_URL,
    databaseSchema: process.env.BENCH_LEDGER_SCHEMA,
    dataDir,
    catalog: parseTierCatalog(readFileSync(new URL('../../tiers.yaml', import.meta.url), 'utf8')),
    // The measured route, not its per-key rate limit.
    meRateLimit: { limit: 100_000_000, windowSeconds: 60 },
    logLevel: 'error',
    encryptionKey: randomBytes(32).toString('hex'),
  });
  const app = await createApp({ config, logSink: new QuietSink() });
  await listen(app, 0, '127.0.0.1');
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const call = async (path: string, body: unknown) => {
    const response = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, unknown>;
  };
  const customer = await call('/v1/customers', { name: 'bench ledger', tier: 'enterprise', overrides: { includedCalls: 1_000_000_000, rateLimit: ['100000000/min'] } });
  const { secret } = (await call(`/v1/customers/${customer.id as string}/keys`, { name: 'bench' })) as { secret: string };
  process.send!({ url, adminToken, customerId: customer.id as string, secret } satisfies Served);
  process.once('disconnect', () => {
    void app.close().finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

function start(schema: string): Promise<{ served: Served; child: ChildProcess }> {
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { env: { ...process.env, BENCH_LEDGER_SCHEMA: schema } });
  return new Promise((resolve, reject) => {
    child.once('message', (served) => resolve({ served: served as Served, child }));
    child.once('exit', (code) => reject(new Error(`bench server for ${schema} exited (${code})`)));
  });
}

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    process.stdout.write('\nledger: skipped (set DATABASE_URL: the 10 M-row ledger is measured on real Postgres)\n');
    return;
  }
  const tag = randomBytes(4).toString('hex');
  const schemas = { empty: `bench_ledger_${tag}_empty`, full: `bench_ledger_${tag}_full` };
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  const children: ChildProcess[] = [];
  try {
    for (const schema of Object.values(schemas)) await admin.query(`CREATE SCHEMA "${schema}"`);
    const empty = await start(schemas.empty);
    children.push(empty.child);
    const full = await start(schemas.full);
    children.push(full.child);

    log(`\nledger: writing ${ROWS} ledger rows into ${schemas.full} with generate_series (chunks of ${CHUNK})…`);
    const started = performance.now();
    await admin.query(`SET search_path TO "${schemas.full}"`);
    // A fresh schema filled by the bench itself: no foreign-key triggers row by row.
    await admin.query(`SET session_replication_role = replica`);
    await admin.query(`INSERT INTO customers (id, name, tier) SELECT 'cus_lg_' || i, 'ledger ' || i, 'pro' FROM generate_series(0, ${CUSTOMERS - 1}) AS i`);
    for (let from = 0; from < ROWS; from += CHUNK) {
      const to = Math.min(ROWS, from + CHUNK) - 1;
      // One row in 100 is the measured customer's; 13 months (this one and the 12 before), 28 days each.
      await admin.query(GENERATE, [from, to, full.served.customerId]);
      log(`    ${to + 1} rows (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    await admin.query(`SET session_replication_role = DEFAULT`);
    await admin.query('VACUUM ANALYZE');
    const [{ rows, stray }] = (await admin.query(`SELECT count(*)::bigint AS rows, (SELECT count(*) FROM usage_events_default)::bigint AS stray FROM usage_events`)).rows as Array<{
      rows: string;
      stray: string;
    }>;
    log(`  ${rows} ledger rows (${stray} in DEFAULT), written in ${((performance.now() - started) / 1000).toFixed(0)} s`);

    // Rounds alternate between the two services, so drift on a shared machine falls on both alike.
    const figures = { empty: { ingest: [] as number[], p99: [] as number[] }, full: { ingest: [] as number[], p99: [] as number[] } };
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [which, { served }] of [['empty', empty], ['full', full]] as const) {
        const run = await measure(served);
        figures[which].ingest.push(run.ingest);
        figures[which].p99.push(run.p99);
        log(`  round ${round}/${ROUNDS} ${which.padEnd(5)}: ingest ${run.ingest.toFixed(0)} events/s; usage p50 ${run.p50.toFixed(2)} ms p99 ${run.p99.toFixed(2)} ms`);
      }
    }
    const result = (which: 'empty' | 'full') => ({ ingest: median(figures[which].ingest), p99: median(figures[which].p99) });
    const [atZero, atFull] = [result('empty'), result('full')];
    const ratio = atFull.ingest / atZero.ingest;
    process.stdout.write(`\nledger — Postgres, median of ${ROUNDS} alternating rounds of ${SECONDS} s each\n\n`);
    process.stdout.write('| ledger rows | ingest events/s | GET /v1/me/usage p99 ms |\n|---:|---:|---:|\n');
    process.stdout.write(`| 0 | ${atZero.ingest.toFixed(0)} | ${atZero.p99.toFixed(2)} |\n| ${rows} | ${atFull.ingest.toFixed(0)} | ${atFull.p99.toFixed(2)} |\n\n`);
    process.stdout.write(`aim: ingest at ${rows} rows ≥ 0.9 × ingest at 0 — ${ratio.toFixed(3)} ${ratio >= 0.9 ? 'MET' : 'NOT MET'}\n`);
    process.stdout.write(`aim: usage query p99 at ${rows} rows < 20 ms — ${atFull.p99.toFixed(2)} ms ${atFull.p99 < 20 ? 'MET' : 'NOT MET'}\n`);
  } finally {
    for (const child of children) child.disconnect();
    await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : null)));
    for (const schema of Object.values(schemas)) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
}

let batch = 0;
async function measure(served: Served): Promise<{ ingest: number; p50: number; p99: number }> {
  const eventsBody = () => {
    const prefix = `b${++batch}`;
    return JSON.stringify({
      events: Array.from({ length: EVENTS_PER_REQUEST }, (_, i) => ({ customerId: served.customerId, meter: 'api_calls', quantity: 1, idempotencyKey: `${prefix}-${i}` })),
    });
  };
  const checked = (what: string, run: Measurement) => {
    if (run.errors + run.non2xx > 0) throw new Error(`${what}: ${run.errors} errors, ${run.non2xx} non-2xx ${JSON.stringify(run.statusCodes)} ${run.errorSamples.join(' | ')}`);
    return run;
  };
  const write = checked(
    'ingest',
    await runLoad(`${served.url}/v1/events`, { authorization: `Bearer ${served.adminToken}` }, { connections: 8, pipelining: 1, durationSeconds: SECONDS }, { method: 'POST', body: eventsBody }),
  );
  const read = checked('usage', await runLoad(`${served.url}/v1/me/usage`, { 'x-api-key': served.secret }, { connections: 1, pipelining: 1, durationSeconds: SECONDS }));
  return { ingest: write.reqPerSec * EVENTS_PER_REQUEST, p50: read.p50Ms, p99: read.p99Ms };
}

/** One chunk of generated ledger: events, their keys, daily rollups and counters, as the ledger statement writes them. */
const GENERATE = `
WITH rows AS (
  SELECT CASE WHEN i % 100 = 0 THEN $3 ELSE 'cus_lg_' || (i % ${CUSTOMERS}) END AS customer_id,
         CASE WHEN i % 3 = 0 THEN 'tokens' ELSE 'api_calls' END AS meter,
         1 + i % 7 AS quantity, 'gen:' || i AS idempotency_key,
         (date_trunc('month', now() AT TIME ZONE 'UTC') - (i % 13) * interval '1 month') AT TIME ZONE 'UTC' AS period_start, i
    FROM generate_series($1::bigint, $2::bigint) AS i
), ev AS (
  INSERT INTO usage_events (customer_id, meter, quantity, idempotency_key, occurred_at, period_start)
  SELECT customer_id, meter, quantity, idempotency_key,
         least(period_start + (i % 28) * interval '1 day' + (i % 86400) * interval '1 second', now()), period_start FROM rows
  RETURNING customer_id, meter, quantity, idempotency_key, occurred_at, period_start
), keys AS (
  INSERT INTO usage_event_keys (customer_id, idempotency_key, period_start) SELECT customer_id, idempotency_key, period_start FROM ev
), daily AS (
  INSERT INTO usage_daily AS d (customer_id, period_start, day, meter, quantity)
  SELECT customer_id, period_start, (occurred_at AT TIME ZONE 'UTC')::date, meter, sum(quantity) FROM ev GROUP BY 1, 2, 3, 4
  ON CONFLICT (customer_id, period_start, day, meter) DO UPDATE SET quantity = d.quantity + EXCLUDED.quantity
)
INSERT INTO usage_counters AS c (customer_id, meter, period_start, period_end, total)
SELECT customer_id, meter, period_start, period_start + interval '1 month', sum(quantity) FROM ev GROUP BY 1, 2, 3
ON CONFLICT (customer_id, meter, period_start) DO UPDATE SET total = c.total + EXCLUDED.total`;

(process.argv[2] === 'serve' ? serve() : main()).catch((error: unknown) => {
  process.stderr.write(`ledger bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
