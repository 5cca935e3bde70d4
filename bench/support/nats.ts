// NATS JetStream for the jetstream ingest transport's bench rows: a private nats-server (its CPU is then the run's
// alone), or a fresh stream on a shared one (NATS_URL), and "has the consumer caught up?" for a run's settle step.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

/** A nats-server with JetStream (file storage in a temp dir) on a free loopback port; stop() removes its store. */
export interface PrivateNats {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no free port');
  return address.port;
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

export async function startPrivateNats(): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-nats-'));
  // The server's defaults otherwise (sync_interval 2 min): what `nats-server -js` gives an operator.
  const child: ChildProcess = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailed = new Promise<never>((_, reject) => child.once('error', (error) => reject(new Error(`cannot run ${NATS_SERVER_BIN}: ${error.message}`))));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(storeDir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      spawnFailed,
      (async () => {
        for (let attempt = 0; !((await portOpen(port)) && /Server is ready/.test(output)); attempt++) {
          if (attempt > 200 || child.exitCode !== null) throw new Error(`nats-server did not start on ${port}:\n${output.slice(-2000)}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
    ]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `nats://127.0.0.1:${port}`, pid: child.pid!, stop };
}

async function withNats<T>(url: string, work: (connection: NatsConnection) => Promise<T>): Promise<T> {
  const connection = await connect({ servers: url.split(','), timeout: 3000, reconnect: false });
  try {
    return await work(connection);
  } finally {
    await connection.close();
  }
}

/** Removes a stream the run made on a shared NATS (absent already: fine). */
export function deleteStream(url: string, stream: string): Promise<void> {
  return withNats(url, async (connection) => {
    const manager = await connection.jetstreamManager();
    try {
      await manager.streams.delete(stream);
    } catch (error) {
      if (!/stream not found/i.test((error as Error).message)) throw error;
    }
  });
}

/**
 * Waits until a transport's stream is empty and resolves with how long that took: its retention is a work queue, so
 * a message leaves it once the consumer has committed it to the ledger and acknowledged it.
 */
export function waitForEmptyStream(url: string, stream: string, timeoutMs: number): Promise<number> {
  return withNats(url, async (connection) => {
    const manager = await connection.jetstreamManager();
    const started = performance.now();
    for (;;) {
      const info = await manager.streams.info(stream);
      if (info.state.messages === 0) return performance.now() - started;
      if (performance.now() - started > timeoutMs) {
        throw new Error(`stream ${stream} still holds ${info.state.messages} messages after ${timeoutMs} ms: its consumer is stuck or far behind`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}
