// Summarizes a V8 CPU profile (`.cpuprofile`, e.g. from BENCH_CPU_PROFILE): self time by package and the top
// functions by self time, overall and inside Tollgate's own code (dist/src → src/*.ts).
//   node dist/bench/profile-summary.js <file.cpuprofile> [top=25] [from] [to]
// `from`/`to`: only samples taken in that monotonic time span (µs, as process.hrtime), e.g. the measured load,
// so that startup, warm-up and shutdown do not count (bench/profile.ts passes both).
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg, fromArg, toArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const from = Number(fromArg ?? 0);
const to = Number(toArg ?? Number.POSITIVE_INFINITY);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

/** Self time (µs) per node id: each sample's delta goes to the node on top of the stack. */
const self = new Map<number, number>();
let total = 0;
let idle = 0;
let clock = profile.startTime;
profile.samples.forEach((id, index) => {
  const delta = Math.max(0, profile.timeDeltas[index] ?? 0);
  clock += profile.timeDeltas[index] ?? 0;
  if (clock < from || clock > to) return;
  self.set(id, (self.get(id) ?? 0) + delta);
  total += delta;
  if (byId.get(id)!.callFrame.functionName === '(idle)') {
    idle += delta;
    return;
  }
});
const busy = total - idle;

/** Where a frame lives: Tollgate's src file, a package, node's internals, or V8 (GC, idle, program). */
function place(url: string): string {
  const src = url.match(/\/dist\/((?:src|bench)\/.+)\.js$/);
  if (src) return `${src[1]}.ts`;
  const pkg = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'node internals';
  return url === '' ? '(V8)' : url;
}

const nameOf = (id: number) => {
  const frame = byId.get(id)!.callFrame;
  const where = place(frame.url);
  return `${where}:${frame.functionName || '(anonymous)'}${where.endsWith('.ts') ? ` (js line ${frame.lineNumber + 1})` : ''}`;
};
const isTollgate = (id: number) => /\/dist\/src\//.test(byId.get(id)!.callFrame.url);

const functions = new Map<string, number>();
const places = new Map<string, number>();
/** Inclusive time of Tollgate functions (each counted once per sample, however deep it recurs). */
const inclusive = new Map<string, number>();
/** Time of the nearest Tollgate frame on the stack: its self time plus the library / node code it called. */
const attributed = new Map<string, number>();
for (const [id, micros] of self) {
  if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
  const where = place(byId.get(id)!.callFrame.url);
  const area = where.endsWith('.ts') ? 'Tollgate (src/, bench/)' : where;
  places.set(area, (places.get(area) ?? 0) + micros);
  functions.set(nameOf(id), (functions.get(nameOf(id)) ?? 0) + micros);
  const seen = new Set<string>();
  let nearest: string | null = null;
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    if (!isTollgate(at)) continue;
    const name = nameOf(at);
    nearest ??= name;
    if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
    seen.add(name);
  }
  if (nearest) attributed.set(nearest, (attributed.get(nearest) ?? 0) + micros);
}

/** Shares of the busy time (all samples in the span but V8's idle ones). */
const percent = (micros: number) => `${((100 * micros) / busy).toFixed(1).padStart(5)} %`;
const list = (title: string, entries: Array<[string, number]>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [name, micros] of entries.slice(0, top)) process.stdout.write(`  ${percent(micros)}  ${name}\n`);
};
const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);

process.stdout.write(`${file}: ${(total / 1e6).toFixed(1)} s of samples, ${(busy / 1e6).toFixed(1)} s busy (percentages are of busy time)\n`);
list('Self time by place', sorted(places));
list('Top functions by self time', sorted(functions));
list("Top functions by self time inside Tollgate's code", sorted(functions).filter(([name]) => name.startsWith('src/')));
list("Tollgate's functions by self time plus the library / node code they call (nearest Tollgate frame)", sorted(attributed));
list("Tollgate's functions by inclusive time", sorted(inclusive));
