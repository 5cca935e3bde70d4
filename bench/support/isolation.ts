import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { deleteStream, startPrivateNats } from './nats.js';
import { JETSTREAM_ENV, SERVER_ENV } from './protocol.js';

/**
 * Resources of one bench server of its own: a fresh schema (or embedded data dir), a Redis key prefix and, when the
 * scenario asks for the jetstream transport, a JetStream stream.
 */
export interface Isolation {
  /** "embedded PGlite" or "Postgres schema bench_…", and the Redis mode. */
  description: string;
  /** Added to the server's environment. */
  env: Record<string, string>;
  /** The private nats-server's process id, when the isolation started one (its CPU is then the run's alone). */
  natsPid?: number;
  dispose(): Promise<void>;
}

async function withPg<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  await redis.connect();
  try {
    // `{prefix:…}…`: the rate-limit store puts a bucket's keys in one hash slot (a Redis Cluster hash tag).
    for (const pattern of [`${prefix}:*`, `{${prefix}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * A temp data dir (removed afterwards); with DATABASE_URL also CREATE SCHEMA bench_<random> (dropped afterwards).
 * With BENCH_JETSTREAM=1: the stream BENCH_<random> on NATS_URL (deleted afterwards), or without NATS_URL a private
 * nats-server (stopped, its store removed).
 */
export async function isolate(env: NodeJS.ProcessEnv = process.env): Promise<Isolation> {
  const suffix = randomBytes(5).toString('hex');
  const disposers: Array<() => Promise<void>> = [];
  const vars: Record<string, string> = {};
  const parts: string[] = [];
  let natsPid: number | undefined;

  // The data dir holds the embedded database, and whatever else the server keeps on disk, in either mode.
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));
  disposers.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  vars[SERVER_ENV.dataDir] = dataDir;

  const databaseUrl = env.DATABASE_URL;
  if (databaseUrl) {
    const schema = `bench_${suffix}`;
    try {
      await withPg(databaseUrl, (client) => client.query(`CREATE SCHEMA "${schema}"`));
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
    disposers.push(() => withPg(databaseUrl, (client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).then(() => undefined));
    vars[SERVER_ENV.databaseSchema] = schema;
    parts.push(`Postgres (schema ${schema})`);
  } else {
    parts.push('embedded PGlite');
  }

  const redisUrl = env.REDIS_URL;
  if (redisUrl) {
    const prefix = `bench:${suffix}`;
    disposers.push(() => deleteRedisKeys(redisUrl, prefix));
    vars[SERVER_ENV.redisPrefix] = prefix;
    parts.push(`Redis (prefix ${prefix})`);
  } else {
    parts.push('no Redis');
  }

  if (env[JETSTREAM_ENV] === '1') {
    const stream = `BENCH_${suffix}`;
    vars[SERVER_ENV.natsStream] = stream;
    if (env.NATS_URL) {
      const url = env.NATS_URL;
      // The server makes the stream when its transport connects; whatever it left is removed with it.
      disposers.push(() => deleteStream(url, stream));
      vars[SERVER_ENV.natsUrl] = url;
      parts.push(`NATS ${url} (stream ${stream})`);
    } else {
      const nats = await startPrivateNats().catch(async (error: Error) => {
        for (const dispose of disposers.reverse()) await dispose().catch(() => undefined);
        throw error;
      });
      disposers.push(() => nats.stop());
      natsPid = nats.pid;
      vars[SERVER_ENV.natsUrl] = nats.url;
      parts.push(`private nats-server ${nats.url} (stream ${stream})`);
    }
  }

  return {
    description: parts.join(', '),
    env: vars,
    natsPid,
    dispose: async () => {
      const failures: string[] = [];
      for (const dispose of disposers.reverse()) {
        await dispose().catch((error: Error) => failures.push(error.message));
      }
      if (failures.length > 0) throw new Error(`cleanup failed: ${failures.join('; ')}`);
    },
  };
}
