// CPU time of other processes on this machine, from /proc (Linux): a nats-server, and the Postgres backends that
// serve one bench server — found through that server's own TCP connections, so other clients of a shared Postgres
// do not count.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type pg from 'pg';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU of a process so far, in µs (10 ms resolution at the usual 100 ticks/s); null once it is gone. */
export function processCpuMicros(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / clockTicks();
}

/** Local ports of `pid`'s TCP connections to `remotePort`, from its socket fds and /proc/net/tcp{,6}. */
function connectionPorts(pid: number, remotePort: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').trim().split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const columns = line.trim().split(/\s+/);
      const [local, remote, inode] = [columns[1], columns[2], columns[9]];
      if (inodes.has(inode) && parseInt(remote.split(':')[1], 16) === remotePort) ports.push(parseInt(local.split(':')[1], 16));
    }
  }
  return ports;
}

/**
 * CPU so far (µs) of each Postgres backend serving `clientPid`'s connections, by backend pid. Works when Postgres
 * runs on this machine (its processes visible in /proc); an empty map otherwise.
 */
export async function postgresBackendCpu(admin: pg.Client, clientPid: number, postgresPort: number): Promise<Map<number, number>> {
  const ports = connectionPorts(clientPid, postgresPort);
  const cpu = new Map<number, number>();
  if (ports.length === 0) return cpu;
  const { rows } = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND client_addr IS NOT NULL`, [ports]);
  for (const { pid } of rows) {
    const micros = processCpuMicros(pid);
    if (micros !== null) cpu.set(pid, micros);
  }
  return cpu;
}

/**
 * Postgres' own background processes (WAL writer, background writer, checkpointer…): shared by every client of the
 * server, so their CPU in a run is only an upper bound for the run's share. Found by their process title.
 */
export function postgresAuxiliaryPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (/^postgres: .*(walwriter|background writer|checkpointer|autovacuum launcher|logical replication launcher)/.test(title)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
