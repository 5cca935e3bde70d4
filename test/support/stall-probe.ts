import { readFileSync } from 'node:fs';
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { checkFetched } from './http.js';
import { sleep } from './wait.js';

export interface ProbeReport {
  probes: number;
  /** Longest round trip of a probe, wall clock. */
  maxMs: number;
  /**
   * Longest stall of the event loop by work: per probe, the smaller of its wall time and the CPU time the
   * main thread (the app under test runs on it) used meanwhile, less the garbage-collection pauses in that time.
   * The main thread's own time, not the process's: V8's concurrent marking and compiler threads add CPU time
   * (up to the core count × wall time) without blocking the loop.
   * Work that blocks the loop shows as both wall and CPU time; the machine starving the process (other jobs on
   * a shared box) shows as wall time only: on this 2-core box at load 16, a bare node:http server probed this
   * way waits up to ~300 ms. GC pauses are left out because their length follows the test runner's heap
   * (~200 MB of Jest and ts-jest), not the requests; they are reported as `maxGcMs`.
   */
  maxBusyMs: number;
  /** Longest total of GC pauses within one probe. */
  maxGcMs: number;
  /** What the caller said was in flight during the probe with the longest stall (see `inFlight`). */
  worst: string[];
}

const CLOCK_TICK_MS = 10;
const mainThreadStat = `/proc/self/task/${process.pid}/stat`;

/** CPU time of this process's main thread (Linux: /proc, 10 ms ticks); elsewhere the whole process's. */
function mainThreadCpuMs(): number {
  try {
    // Fields after the command name, which is in parentheses and may itself hold spaces: utime and stime are 12th and 13th.
    const stat = readFileSync(mainThreadStat, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * CLOCK_TICK_MS;
  } catch {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1000;
  }
}

/**
 * Sends `GET url` one after another (5 ms apart) until stopped, to see whether other requests stall the
 * server's event loop: a blocked loop cannot answer the probe.
 */
export function startStallProbe(url: string, inFlight: () => string[] = () => []): { stop(): Promise<ProbeReport> } {
  const report: ProbeReport = { probes: 0, maxMs: 0, maxBusyMs: 0, maxGcMs: 0, worst: [] };
  const pauses: PerformanceEntry[] = [];
  const gc = new PerformanceObserver((list) => pauses.push(...list.getEntries()));
  gc.observe({ entryTypes: ['gc'] });
  const gcWithin = (start: number, end: number) =>
    pauses.reduce((total, pause) => total + Math.max(0, Math.min(end, pause.startTime + pause.duration) - Math.max(start, pause.startTime)), 0);

  let running = true;
  const loop = (async () => {
    while (running) {
      const cpuBefore = mainThreadCpuMs();
      const started = performance.now();
      const during = new Set(inFlight());
      const response = await fetch(url);
      const body = await response.arrayBuffer();
      for (const label of inFlight()) during.add(label);
      const ended = performance.now();
      // Checked outside the timed window, so the check's own work never counts as a stall.
      await checkFetched(url, undefined, response, body);
      const cpuMs = mainThreadCpuMs() - cpuBefore;
      // GC entries are delivered asynchronously: let the ones of this window arrive.
      await sleep(5);
      const gcMs = gcWithin(started, ended);
      report.probes++;
      report.maxMs = Math.max(report.maxMs, ended - started);
      report.maxGcMs = Math.max(report.maxGcMs, gcMs);
      const busyMs = Math.max(0, Math.min(ended - started, cpuMs) - gcMs);
      if (busyMs > report.maxBusyMs) report.worst = [...during];
      report.maxBusyMs = Math.max(report.maxBusyMs, busyMs);
      pauses.splice(0, pauses.findIndex((pause) => pause.startTime + pause.duration >= started) >>> 0);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      gc.disconnect();
      return { probes: report.probes, maxMs: Math.round(report.maxMs), maxBusyMs: Math.round(report.maxBusyMs), maxGcMs: Math.round(report.maxGcMs), worst: report.worst };
    },
  };
}
