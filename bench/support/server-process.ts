import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ParentMessage, ServerMessage } from './protocol.js';

export const SERVER_ENTRY = fileURLToPath(new URL('./server.js', import.meta.url));

const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** A running bench server (child process) on a loopback port. */
export interface BenchServer {
  url: string;
  /** The child's process id (bench/sizing.ts finds its Postgres backends through its sockets). */
  pid: number;
  /** Secret of an API key of an enterprise customer with effectively unlimited calls and rate. */
  apiKey: string;
  /** What the scenario's own setup added (ports, keys), by name; empty for the plain server. */
  extra: Record<string, string>;
  /** CPU time (user + system) the server process has used so far, in µs. */
  cpuUsage(): Promise<number>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Last resort (watchdog, signals): SIGKILL every server still running, synchronously. */
export function killAllServers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

function forward(child: ChildProcess): void {
  const prefix = (chunk: Buffer) =>
    chunk
      .toString()
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => `[server] ${line}\n`)
      .join('');
  child.stdout?.on('data', (chunk: Buffer) => process.stderr.write(prefix(chunk)));
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(prefix(chunk)));
}

/** Forks dist/bench/support/server.js with `env` added and waits for its ready message. */
export async function startServer(env: Record<string, string>): Promise<BenchServer> {
  // BENCH_CPU_PROFILE=<dir>: the server writes a V8 CPU profile there when it exits (see bench/README.md).
  const profileDir = process.env.BENCH_CPU_PROFILE;
  const child = fork(SERVER_ENTRY, [], {
    env: { ...process.env, ...env },
    execArgv: profileDir ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : process.execArgv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  running.add(child);
  forward(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // A profiled server must exit by itself (process.exit writes the profile; death by a signal does not): closing
    // the IPC channel makes it close its apps and exit. The SIGKILL below still bounds the wait.
    if (profileDir && child.connected) child.disconnect();
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  try {
    const ready = await new Promise<Extract<ServerMessage, { type: 'ready' }>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the bench server was not ready within ${STARTUP_TIMEOUT_MS} ms`)), STARTUP_TIMEOUT_MS);
      child.on('message', (message: ServerMessage) => {
        if (message.type === 'cpu-usage') return;
        clearTimeout(timer);
        if (message.type === 'ready') resolve(message);
        else reject(new Error(`the bench server failed to start:\n${message.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the bench server exited during startup (code ${code}, signal ${signal})`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    const cpuUsage = () =>
      new Promise<number>((resolve, reject) => {
        const onMessage = (message: ServerMessage) => {
          if (message.type !== 'cpu-usage') return;
          child.off('message', onMessage);
          resolve(message.micros);
        };
        child.on('message', onMessage);
        child.send({ type: 'cpu-usage' } satisfies ParentMessage, (error) => {
          if (error) {
            child.off('message', onMessage);
            reject(error);
          }
        });
      });
    return { url: `http://127.0.0.1:${ready.port}`, pid: child.pid!, apiKey: ready.apiKey, extra: ready.extra ?? {}, cpuUsage, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
