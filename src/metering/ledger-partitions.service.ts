import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { DataSource, QueryRunner } from 'typeorm';
import { TollgateConfig } from '../config/index.js';
import { InjectTollgateDataSource } from '../database/index.js';

/**
 * Partitions kept ready: this month and the next two. Never past months: they were made while ahead (the
 * migration made the 12 months before it, for yearly periods), and an archived month must not come back.
 */
const MONTHS_AHEAD = 2;
/** Rows read per query while exporting a partition. */
const EXPORT_BATCH = 5_000;
const PARTITION_NAME = /^usage_events_p(\d{4})(\d{2})$/;

export interface ArchivedPartition {
  partition: string;
  file: string;
  rows: number;
}

export interface MaintenanceReport {
  ran: boolean;
  created: string[];
  /** Months left in the DEFAULT partition because it already held their rows (nothing is moved). */
  inDefault: string[];
  archived: ArchivedPartition[];
}

type LedgerConfig = Pick<
  TollgateConfig,
  'embedded' | 'ledgerRetentionMonths' | 'ledgerArchiveDir' | 'dataDir' | 'stripeFinalizationGraceMs' | 'lateEventGraceMs'
>;

/** The last embedded run (any instance of this process): the next one starts after it. */
let embeddedTurn: Promise<unknown> = Promise.resolve();

const addMonths = (date: Date, months: number) => {
  const result = new Date(date.getTime());
  result.setUTCMonth(result.getUTCMonth() + months);
  return result;
};
const monthStart = (date: Date) => new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));

/**
 * Keeps the monthly partitions of `usage_events` (by UTC month of period_start) ready and, with
 * TOLLGATE_LEDGER_RETENTION set, archives old ones: a partition is exported (gzip JSON lines in the archive
 * directory) and dropped once the last period it holds ended, its invoice is final (Stripe finalizes a period's
 * invoice STRIPE_FINALIZATION_GRACE_MS after its end; no event is taken after the late-event grace either) and
 * the retention months passed since. Counters and daily rollups stay; the idempotency keys of the dropped events
 * go with them (a retry of one is for a period closed long ago, which the ingest refuses as `period_closed`).
 */
@Injectable()
export class LedgerPartitions {
  private readonly logger = new Logger('LedgerPartitions');

  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(TollgateConfig) private readonly config: LedgerConfig,
  ) {}

  get archiveDir(): string {
    return this.config.ledgerArchiveDir ?? join(this.config.dataDir, 'ledger-archive');
  }

  /** One instance at a time (advisory lock per schema); another instance's run answers `ran: false`. */
  async maintain(now = new Date()): Promise<MaintenanceReport> {
    if (this.config.embedded) {
      // One process owns an embedded database: its runs take turns here instead of through Postgres.
      const run = embeddedTurn.then(() => this.run(now));
      embeddedTurn = run.catch(() => undefined);
      return run;
    }
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query(`SELECT pg_try_advisory_lock(hashtext('tollgate:ledger-partitions:' || current_schema())) AS locked`)) as Array<{
        locked: boolean;
      }>;
      if (!locked) return { ran: false, created: [], inDefault: [], archived: [] };
      try {
        return await this.run(now);
      } finally {
        await runner.query(`SELECT pg_advisory_unlock(hashtext('tollgate:ledger-partitions:' || current_schema()))`);
      }
    } finally {
      await runner.release();
    }
  }

  private async run(now: Date): Promise<MaintenanceReport> {
    const { created, inDefault } = await this.ensurePartitions(now);
    const archived = this.config.ledgerRetentionMonths > 0 ? await this.archiveExpired(now) : [];
    const [{ stray }] = (await this.dataSource.query(`SELECT count(*)::text AS stray FROM usage_events_default`)) as Array<{ stray: string }>;
    if (stray !== '0') {
      this.logger.warn(`${stray} events are in usage_events_default (written for a month without its partition); they stay there and are never archived`);
    }
    return { ran: true, created, inDefault, archived };
  }

  private async ensurePartitions(now: Date): Promise<{ created: string[]; inDefault: string[] }> {
    const months = Array.from({ length: MONTHS_AHEAD + 1 }, (_, i) => addMonths(monthStart(now), i).toISOString());
    const rows = (await this.dataSource.query(
      `SELECT to_char(m AT TIME ZONE 'UTC', 'YYYY-MM') AS month, usage_events_create_partition(m) AS outcome FROM unnest($1::timestamptz[]) AS m`,
      [months],
    )) as Array<{ month: string; outcome: 'created' | 'exists' | 'in_default' }>;
    const inDefault = rows.filter((row) => row.outcome === 'in_default').map((row) => row.month);
    if (inDefault.length) this.logger.warn(`no partition created for ${inDefault.join(', ')}: usage_events_default already holds events of those months`);
    return { created: rows.filter((row) => row.outcome === 'created').map((row) => row.month), inDefault };
  }

  /** The monthly partitions whose every period has a final invoice and ended more than the retention ago. */
  private async expiredPartitions(now: Date): Promise<string[]> {
    const partitions = (await this.dataSource.query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'usage_events'::regclass ORDER BY c.relname`,
    )) as Array<{ name: string }>;
    const finalAfterMs = Math.max(this.config.stripeFinalizationGraceMs, this.config.lateEventGraceMs);
    const expired: string[] = [];
    for (const { name } of partitions) {
      const match = PARTITION_NAME.exec(name);
      if (!match) continue; // the DEFAULT partition is never archived
      const from = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
      const to = addMonths(from, 1);
      if (to.getTime() > now.getTime()) continue;
      // An empty partition is kept: it costs nothing, and a month that still has its partition never fills DEFAULT.
      const [{ empty }] = (await this.dataSource.query(`SELECT NOT EXISTS (SELECT 1 FROM "${name}") AS empty`)) as Array<{ empty: boolean }>;
      if (empty) continue;
      // A period starting in this month may end in a later one (anchored, yearly): the last end decides.
      const [{ last_end: lastEnd }] = (await this.dataSource.query(
        `SELECT max(period_end) AS last_end FROM usage_counters WHERE period_start >= $1 AND period_start < $2`,
        [from.toISOString(), to.toISOString()],
      )) as Array<{ last_end: Date | null }>;
      const final = new Date(new Date(lastEnd ?? to).getTime() + finalAfterMs);
      if (addMonths(final, this.config.ledgerRetentionMonths).getTime() <= now.getTime()) expired.push(name);
    }
    return expired;
  }

  private async archiveExpired(now: Date): Promise<ArchivedPartition[]> {
    const archived: ArchivedPartition[] = [];
    for (const partition of await this.expiredPartitions(now)) {
      const [{ schema }] = (await this.dataSource.query(`SELECT current_schema() AS schema`)) as Array<{ schema: string }>;
      const file = join(this.archiveDir, `${schema}.${partition}.jsonl.gz`);
      const rows = await this.exportPartition(partition, file);
      if (await this.dropPartition(partition, rows)) {
        this.logger.log(`archived ${partition}: ${rows} events to ${file}, partition dropped`);
        archived.push({ partition, file, rows });
      }
    }
    return archived;
  }

  /**
   * Every row of the partition, as one JSON object a line, gzip-compressed, written under a temporary name,
   * flushed to disk and renamed: the file exists complete or not at all. Read in id order by batches of plain
   * SELECTs, not COPY: the same code works on a remote server and on embedded PGlite.
   */
  private async exportPartition(partition: string, file: string): Promise<number> {
    await mkdir(this.archiveDir, { recursive: true });
    const temporary = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    let count = 0;
    const dataSource = this.dataSource;
    async function* lines(): AsyncGenerator<string> {
      let after = '0';
      for (;;) {
        const rows = (await dataSource.query(
          `SELECT id::text AS id, customer_id, meter, quantity::text AS quantity, idempotency_key, occurred_at, period_start, recorded_at, properties
             FROM "${partition}" WHERE id > $1 ORDER BY id LIMIT ${EXPORT_BATCH}`,
          [after],
        )) as Array<{ id: string; occurred_at: Date; period_start: Date; recorded_at: Date } & Record<string, unknown>>;
        if (!rows.length) return;
        yield rows
          .map((row) =>
            JSON.stringify({
              ...row,
              occurred_at: new Date(row.occurred_at).toISOString(),
              period_start: new Date(row.period_start).toISOString(),
              recorded_at: new Date(row.recorded_at).toISOString(),
            }),
          )
          .join('\n')
          .concat('\n');
        count += rows.length;
        after = rows[rows.length - 1].id;
      }
    }
    try {
      await pipeline(Readable.from(lines()), createGzip(), createWriteStream(temporary));
      const handle = await open(temporary, 'r');
      await handle.sync().finally(() => handle.close());
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return count;
  }

  /**
   * Drops the exported partition and its events' idempotency keys in one transaction, only if it still holds
   * exactly the rows exported (a late write since then keeps it for the next run). DETACH, then DROP: the one
   * removal of ledger rows there is — the append-only trigger forbids UPDATE and DELETE of a row.
   */
  private async dropPartition(partition: string, exported: number): Promise<boolean> {
    const runner: QueryRunner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await runner.query(`LOCK TABLE "${partition}" IN ACCESS EXCLUSIVE MODE`);
      const [{ rows }] = (await runner.query(`SELECT count(*)::int AS rows FROM "${partition}"`)) as Array<{ rows: number }>;
      if (rows !== exported) {
        await runner.rollbackTransaction();
        this.logger.warn(`${partition} changed while it was exported (${exported} → ${rows} events): kept for the next run`);
        return false;
      }
      // The keys go in id-ordered slices: each statement stays short (the pool's query timeout), the transaction whole.
      for (let after = '0'; ; ) {
        const [last] = (await runner.query(
          `WITH slice AS (SELECT id, customer_id, idempotency_key FROM "${partition}" WHERE id > $1 ORDER BY id LIMIT ${EXPORT_BATCH}),
                gone AS (DELETE FROM usage_event_keys k USING slice WHERE k.customer_id = slice.customer_id AND k.idempotency_key = slice.idempotency_key)
           SELECT max(id)::text AS id FROM slice`,
          [after],
        )) as Array<{ id: string | null }>;
        if (last.id === null) break;
        after = last.id;
      }
      await runner.query(`ALTER TABLE usage_events DETACH PARTITION "${partition}"`);
      await runner.query(`DROP TABLE "${partition}"`);
      await runner.commitTransaction();
      return true;
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
  }
}
