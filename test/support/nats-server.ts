import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private nats-server with JetStream (file storage in a temporary directory) for tests that must stop or restart
 * NATS, or want a stream of their own, without touching the shared one (NATS_URL). Needs the `nats-server` binary
 * (Debian's package; `scripts/ensure-test-tools.sh` installs it).
 */
export interface PrivateNats {
  url: string;
  /** The running server's process id (a new one after restart): the bench reads its CPU. */
  readonly pid: number;
  /** SIGKILL: connections drop; what the stream stored stays on disk. */
  kill(): Promise<void>;
  /** After kill(): the server again on the same port and store (clients reconnect, streams are still there). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open but nothing answers (a hung server). Resolves once it is stopped. */
  freeze(): Promise<void>;
  thaw(): void;
  /** Stops the server and removes its store. */
  stop(): Promise<void>;
}

export const NATS_SERVER_BIN = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

function spawnNats(port: number, storeDir: string): { child: ChildProcess; exited: Promise<void>; output: () => string } {
  const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited, output: () => output };
}

/** Ready once the server says JetStream is up (its log) and the port takes connections. */
async function waitForServer(port: number, output: () => string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open && /Server is ready/.test(output())) return;
    if (attempt > 200) throw new Error(`nats-server did not start on ${port}:\n${output().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startPrivateNats(): Promise<PrivateNats> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'tollgate-nats-'));
  let server = spawnNats(port, storeDir);
  await waitForServer(port, server.output);
  const kill = async () => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return;
    server.child.kill('SIGCONT');
    server.child.kill('SIGKILL');
    await server.exited;
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    get pid() {
      return server.child.pid!;
    },
    kill,
    restart: async () => {
      server = spawnNats(port, storeDir);
      await waitForServer(port, server.output);
    },
    freeze: async () => {
      server.child.kill('SIGSTOP');
      // The signal is queued, not yet acted on: wait until the kernel shows the process stopped ("T").
      for (let attempt = 0; attempt < 200; attempt++) {
        if (/^\d+ \(.*\) T /.test(readFileSync(`/proc/${server.child.pid}/stat`, 'utf8'))) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error('nats-server did not stop on SIGSTOP');
    },
    thaw: () => server.child.kill('SIGCONT'),
    stop: async () => {
      await kill();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
