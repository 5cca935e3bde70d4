import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { isDatabaseUnavailable } from '../common/index.js';
import { runMigrations } from './migrate.js';

/** First retry after this long, doubling up to RETRY_MAX_MS while the database stays unreachable. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5_000;

interface OpenOptions {
  schema: string;
  embedded: boolean;
}

/** Connects and migrates; a half-done attempt (connected, migrations interrupted) is undone so the next starts clean. */
export async function openDatabase(dataSource: DataSource, options: OpenOptions): Promise<string[]> {
  if (!dataSource.isInitialized) await dataSource.initialize();
  try {
    return await runMigrations(dataSource, options);
  } catch (error) {
    await dataSource.destroy().catch(() => undefined);
    throw error;
  }
}

/**
 * Whether Tollgate's database is open (connected and migrated). A process may start while Postgres is unreachable:
 * it then serves what needs no database, reports not-ready, answers the rest 503, and keeps opening the database in
 * the background until it succeeds. (A refused login or a failed migration is not an outage: start-up fails.)
 */
@Injectable()
export class DatabaseReadiness implements OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private opened = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly waiters: Array<() => void> = [];
  /** Why the last attempt failed, while not open (readiness shows it). */
  lastError: string | null = null;

  get open(): boolean {
    return this.opened;
  }

  /** Resolves once the database is open (at once if it is). */
  whenOpen(): Promise<void> {
    return this.opened ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The data source opened on the first try. */
  markOpen(): void {
    this.opened = true;
    this.lastError = null;
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  /**
   * The first try found the database unreachable: keeps trying in the background (500 ms, doubling, at most 5 s
   * apart) until it is open.
   */
  openInBackground(dataSource: DataSource, options: OpenOptions, firstError: unknown): void {
    this.lastError = (firstError as Error).message;
    this.logger.warn(`database unreachable at start (${this.lastError}); serving without it and retrying in the background`);
    const attempt = async (delayMs: number): Promise<void> => {
      if (this.stopped) return;
      try {
        const applied = await openDatabase(dataSource, options);
        if (this.stopped) return;
        if (applied.length > 0) this.logger.log(`applied migrations: ${applied.join(', ')}`);
        this.logger.log('database reachable: ready');
        this.markOpen();
      } catch (error) {
        this.lastError = (error as Error).message;
        if (!isDatabaseUnavailable(error)) this.logger.error(`opening the database failed: ${this.lastError}; retrying`);
        this.timer = setTimeout(() => void attempt(Math.min(delayMs * 2, RETRY_MAX_MS)), delayMs);
        this.timer.unref();
      }
    };
    this.timer = setTimeout(() => void attempt(RETRY_FIRST_MS * 2), RETRY_FIRST_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
