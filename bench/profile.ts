// CPU profile of the bench server under load of one endpoint (compiled: dist/bench/profile.js):
//   REDIS_URL=redis://127.0.0.1:6379 node dist/bench/profile.js [path=/v1/basic/limited] [seconds=20]
//   node dist/bench/profile.js ingest:100 [seconds]   (POST /v1/events, 100 new events per request)
// Same isolation as `npm run bench` (fresh schema / prefix, removed afterwards); the server writes its
// .cpuprofile into a temp dir on exit, and bench/profile-summary.ts prints where the time went.
// BENCH_PROFILE_TRANSPORT=jetstream: the server's jetstream app takes the load (as in the ingest-transport scenarios),
// and the measured span ends once its stream is empty, so the consumer's ledger writes are in the profile.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsBody, jetstreamApp } from './support/ingest-transport.js';
import { isolate } from './support/isolation.js';
import { runLoad } from './support/load.js';
import { startServer } from './support/server-process.js';
import { JETSTREAM_ENV } from './support/protocol.js';
import { readSettings } from './support/settings.js';

const [path = '/v1/basic/limited', secondsArg = '20'] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 120) throw new Error('seconds must be in (0, 120]');
const settings = readSettings();
const dir = mkdtempSync(join(tmpdir(), 'tollgate-profile-'));
process.env.BENCH_CPU_PROFILE = dir;

// `ingest:<n>`: POST /v1/events with n events of never-sent keys per request, under the admin token.
const ingestSize = /^ingest:(\d+)$/.exec(path)?.[1];
const adminToken = randomBytes(24).toString('base64url');
const ingestCustomer = `cus_profile_${randomBytes(4).toString('hex')}`;
const target = ingestSize ? '/v1/events' : path;
const request = ingestSize ? { method: 'POST' as const, body: eventsBody(ingestCustomer, Number(ingestSize)) } : {};
const transport = process.env.BENCH_PROFILE_TRANSPORT ?? 'direct';
if (transport !== 'direct' && transport !== 'jetstream') throw new Error('BENCH_PROFILE_TRANSPORT must be direct or jetstream');
const serverEnv: Record<string, string> = {
  ...(ingestSize && { BENCH_ADMIN_TOKEN: adminToken, BENCH_INGEST_CUSTOMER_ID: ingestCustomer }),
  ...(transport === 'jetstream' && { [JETSTREAM_ENV]: '1' }),
};

const isolation = await isolate({ ...process.env, ...serverEnv });
/** Monotonic µs (the clock of the profile's timestamps) when the measured load started and ended. */
let loadStart: number | undefined;
let loadEnd: number | undefined;
const now = () => Math.round(Number(process.hrtime.bigint() / 1000n));
const guard = setTimeout(() => {
  process.stderr.write('profile run overran its time budget\n');
  process.exit(1);
}, (seconds + 120) * 1000);
try {
  const server = await startServer({ ...isolation.env, ...serverEnv });
  try {
    const jetstream = transport === 'jetstream' ? jetstreamApp(server) : null;
    const headers: Record<string, string> = ingestSize ? { authorization: `Bearer ${adminToken}` } : { 'x-api-key': jetstream?.apiKey ?? server.apiKey };
    const url = `${jetstream?.base ?? server.url}${target}`;
    const options = { connections: settings.connections, pipelining: 1, durationSeconds: 3 };
    await runLoad(url, headers, options, request); // warm-up: JIT, key cache, pools
    await jetstream?.settle();
    loadStart = now();
    const run = await runLoad(url, headers, { ...options, durationSeconds: seconds }, request);
    const settled = await jetstream?.settle();
    loadEnd = now();
    if (settled !== undefined) process.stderr.write(`the stream was empty ${settled.toFixed(0)} ms after the load\n`);
    process.stderr.write(`${path}: ${run.reqPerSec.toFixed(0)} req/s, ${run.errors} errors, ${run.non2xx} non-2xx over ${seconds} s ${JSON.stringify(run.statusCodes)}\n`);
  } finally {
    await server.stop();
  }
} finally {
  await isolation.dispose();
  clearTimeout(guard);
}
const profiles = readdirSync(dir).filter((file) => file.endsWith('.cpuprofile'));
if (profiles.length === 0) throw new Error(`the server wrote no profile into ${dir}`);
const args = [join(dir, profiles[0]), '25', String(loadStart), String(loadEnd)];
process.stdout.write(`profile: ${args[0]} (measured load ${loadStart}–${loadEnd} µs)\nsummary: node dist/bench/profile-summary.js ${args.join(' ')}\n`);
process.stdout.write(execFileSync(process.execPath, [new URL('./profile-summary.js', import.meta.url).pathname, ...args], { encoding: 'utf8' }));
