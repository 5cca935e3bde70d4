import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import type { PGlite, Results } from '@electric-sql/pglite';
import { loadOptionalPeer } from '../common/index.js';

type QueryCallback = (error: Error | null, result?: PgStyleResult) => void;

interface PgStyleResult {
  rows: unknown[];
  rowCount: number;
  command: string;
}

/**
 * PGlite has a single session. A transaction must own it from BEGIN to COMMIT, so every "connection"
 * handed to TypeORM holds an exclusive lease until released — otherwise two concurrent transactions
 * would interleave their statements in one session (typeorm-pglite's pool shares it freely).
 */
class SessionLease {
  private tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const granted = this.tail.then(() => release);
    this.tail = this.tail.then(() => held);
    return granted;
  }
}

const leases = new WeakMap<PGlite, SessionLease>();

function leaseFor(db: PGlite): SessionLease {
  let lease = leases.get(db);
  if (!lease) {
    lease = new SessionLease();
    leases.set(db, lease);
  }
  return lease;
}

function commandOf(sql: string): string {
  const match = /^\s*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*(?:WITH\b[\s\S]*?\)\s*)?([A-Za-z]+)/.exec(sql);
  return (match?.[1] ?? '').toUpperCase();
}

async function run(db: PGlite, sql: string, params?: unknown[]): Promise<PgStyleResult> {
  let result: Results;
  if (params && params.length > 0) {
    result = await db.query(sql, params);
  } else {
    // exec runs multi-statement scripts (migrations); like pg, report the last statement's result.
    const all = await db.exec(sql);
    result = all[all.length - 1] ?? { rows: [], fields: [] };
  }
  return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length, command: commandOf(sql) };
}

class PgliteClient extends EventEmitter {
  constructor(private readonly db: PGlite) {
    super();
  }

  query(sql: string | { text: string; values?: unknown[] }, paramsOrCallback?: unknown[] | QueryCallback, callback?: QueryCallback) {
    const text = typeof sql === 'string' ? sql : sql.text;
    const params = Array.isArray(paramsOrCallback) ? paramsOrCallback : typeof sql === 'string' ? undefined : sql.values;
    const done = typeof paramsOrCallback === 'function' ? paramsOrCallback : callback;
    const promise = run(this.db, text, params);
    if (done) promise.then((result) => done(null, result), (error: Error) => done(error));
    return promise;
  }
}

/** A `pg`-compatible driver module for TypeORM's postgres dialect, backed by one PGlite instance. */
export function pgliteDriver(db: PGlite): { Pool: new () => EventEmitter } {
  const lease = leaseFor(db);
  class Pool extends EventEmitter {
    private readonly client = new PgliteClient(db);

    connect(callback: (error: Error | null, client?: PgliteClient, release?: () => void) => void): void {
      lease.acquire().then(
        (release) => callback(null, this.client, release),
        (error: Error) => callback(error),
      );
    }

    async query(sql: string, params?: unknown[] | QueryCallback, callback?: QueryCallback) {
      const release = await lease.acquire();
      try {
        return await this.client.query(sql, params, callback);
      } finally {
        release();
      }
    }

    /** The PGlite instance outlives the pool: its owner closes it. */
    end(callback?: (error: Error | null) => void): void {
      callback?.(null);
    }
  }
  return { Pool };
}

/** Opens PGlite with pg's type parsing (int8 and numeric as strings) so both backends return the same shapes. */
export async function openPglite(dataDir?: string, loadDataDir?: Blob): Promise<PGlite> {
  const asText = (value: string) => value;
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  // An optional peer: only the embedded database (no databaseUrl) needs it.
  const { PGlite, types } = await loadOptionalPeer('@electric-sql/pglite', 'the embedded database (no databaseUrl / DATABASE_URL set)', () => import('@electric-sql/pglite'));
  return PGlite.create({
    dataDir,
    loadDataDir,
    parsers: { [types.INT8]: asText, [types.NUMERIC]: asText },
  });
}
