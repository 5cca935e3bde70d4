import { connect, createServer, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';

/** A database that can be made unreachable on demand, from the app's point of view. */
export interface Outage {
  readonly down: boolean;
  /** The database goes away: open connections are cut, new ones refused (or queries fail, embedded). */
  stop(): void;
  /** It is back. */
  start(): void;
  close(): Promise<void>;
}

/**
 * Real Postgres: a loopback TCP proxy in front of it. `stop()` destroys every proxied socket and refuses
 * new connections, which is what a crashed or partitioned database looks like to `pg`.
 */
export async function startPostgresProxy(databaseUrl: string): Promise<Outage & { databaseUrl: string }> {
  const target = new URL(databaseUrl);
  const targetHost = target.hostname || '127.0.0.1';
  const targetPort = Number(target.port || 5432);
  const sockets = new Set<Socket>();
  let down = false;

  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const proxied = new URL(databaseUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);

  const cutAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    databaseUrl: proxied.toString(),
    get down() {
      return down;
    },
    stop() {
      down = true;
      cutAll();
    },
    start() {
      down = false;
    },
    close: async () => {
      down = true;
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Method = (...args: unknown[]) => Promise<unknown>;

/**
 * Embedded: a Proxy around the real PGlite whose `query`/`exec` (the only methods the TypeORM driver
 * calls, see src/database/pglite.driver.ts) reject the way a dropped `pg` connection does while down.
 */
export function flakyPglite(real: PGlite): Outage & { pglite: PGlite } {
  let down = false;
  const pglite = new Proxy(real, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === 'query' || property === 'exec') {
        const method = value as Method;
        return (...args: unknown[]) => (down ? Promise.reject(new Error('Connection terminated unexpectedly')) : method.apply(target, args));
      }
      // PGlite keeps private state: its methods must run on the real instance, not on the proxy.
      return typeof value === 'function' ? (value as Method).bind(target) : value;
    },
  });
  return {
    pglite,
    get down() {
      return down;
    },
    stop() {
      down = true;
    },
    start() {
      down = false;
    },
    close: async () => undefined,
  };
}
