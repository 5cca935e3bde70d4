import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * A private redis-server for tests that must stop, freeze or share one Redis between instances without
 * touching the shared one (REDIS_URL). Needs the `redis-server` binary (on this machine kind and CI).
 */
export interface PrivateRedis {
  url: string;
  /** SIGKILL: connections drop, nothing answers. */
  kill(): Promise<void>;
  /** After kill(): a fresh, empty redis-server on the same port (clients reconnect to it). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open but nothing answers (a hung server). */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

function spawnRedis(port: number): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited };
}

async function waitForPing(url: string, port: number): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    // A fresh client per attempt: one that failed to connect has ended and rejects whatever it is asked.
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.ping();
      return;
    } catch (error) {
      if (attempt > 50) throw new Error(`redis-server did not start on ${port}`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = spawnRedis(port);
  await waitForPing(url, port);
  return {
    url,
    kill: async () => {
      server.child.kill('SIGKILL');
      await server.exited;
    },
    restart: async () => {
      server = spawnRedis(port);
      await waitForPing(url, port);
    },
    freeze: () => server.child.kill('SIGSTOP'),
    thaw: () => server.child.kill('SIGCONT'),
    stop: async () => {
      if (server.child.exitCode !== null || server.child.signalCode !== null) return;
      server.child.kill('SIGCONT');
      server.child.kill('SIGKILL');
      await server.exited;
    },
  };
}
