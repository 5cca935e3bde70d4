import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { TollgateConfig } from '../config/index.js';
import { queryPrepared } from '../database/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { jsonQuantity, type JsonQuantity } from '../common/index.js';

/** One ledger event as support sees it (no properties: they are the caller's). */
export interface LedgerEventView {
  id: string;
  customerId: string;
  meter: string;
  quantity: JsonQuantity;
  idempotencyKey: string;
  occurredAt: string;
  recordedAt: string;
}

/** One event ready for the ledger: validated, with its period resolved. */
export interface LedgerEvent {
  customerId: string;
  meter: string;
  /** A whole number from 0 to `maxEventQuantity` (the ingestor refuses anything else on its own). */
  quantity: number;
  idempotencyKey: string;
  occurredAt: Date;
  periodStart: Date;
  periodEnd: Date;
  properties: Record<string, unknown> | null;
}

/** A counter moved by a committed batch. Totals are `bigint`: a counter can pass 2^53. */
export interface CounterTotal {
  customerId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  delta: bigint;
  total: bigint;
}

export interface BatchResult {
  /** `customerId\u0000idempotencyKey` of the events this batch inserted (the others were duplicates or refused). */
  inserted: Set<string>;
  counters: CounterTotal[];
  /** Events refused on their own, by identity, with the reason (e.g. the counter would pass its cap). */
  refused: Map<string, UsageRefusal>;
}

/** Why the ledger refused one event. `counter_limit` and `quantity_limit` are the reporter's doing. */
export interface UsageRefusal {
  reason: 'counter_limit' | 'quantity_limit' | 'refused';
  message: string;
}

export const eventIdentity = (customerId: string, idempotencyKey: string) => `${customerId}\u0000${idempotencyKey}`;
/** One usage counter (customer, meter, period): the key quotas, the stream's queued units and commits share. */
export const counterKey = (customerId: string, meter: string, periodStart: Date) => `${customerId}\u0000${meter}\u0000${periodStart.getTime()}`;

/** A LedgerEvent as JSON text (spool files, stream messages): its dates as ISO strings. */
export interface LedgerEventJson extends Omit<LedgerEvent, 'occurredAt' | 'periodStart' | 'periodEnd'> {
  occurredAt: string;
  periodStart: string;
  periodEnd: string;
}

/** Back from `JSON.stringify(event)`; throws on text that is not one (not something Tollgate wrote). */
export function ledgerEventFromJson(text: string): LedgerEvent {
  const event = JSON.parse(text) as LedgerEventJson;
  if (typeof event?.customerId !== 'string' || typeof event.idempotencyKey !== 'string' || typeof event.quantity !== 'number') {
    throw new Error('not a usage event');
  }
  return { ...event, occurredAt: new Date(event.occurredAt), periodStart: new Date(event.periodStart), periodEnd: new Date(event.periodEnd) };
}

/**
 * The ledger write: idempotency keys, events, daily rollups and the counters they move, in ONE statement. An
 * event is inserted only if its key was claimed in usage_event_keys (ON CONFLICT DO NOTHING: the one dedupe
 * across the monthly partitions of usage_events); counters and rollups are summed from the rows the INSERT
 * actually returned, so a duplicate can never reach them, and a crash can never leave events without their
 * counts or counts without their events.
 *
 * No counter may pass the cap ($9, TOLLGATE_MAX_COUNTER_TOTAL), and nothing may overflow on the way: every
 * counter write is checked in numeric first and refused (usage_counter_limit_exceeded, SQLSTATE TGCAP) past
 * the cap. That check costs nothing on the usual path. A batch it refuses (a counter near its cap, in
 * practice only a customer flooding huge quantities) is written again by ADMITTING_INSERT_BATCH, which leaves
 * out just the events that do not fit.
 *
 * New totals and deltas come back as separate rows for the caller to pair: a join of the two would be a
 * nested loop (the prepared statement's generic plan guesses ~10 rows), quadratic in the customers of a batch.
 */
const INSERT_BATCH = `
WITH input AS (
  -- One row per (customer, key), the first one given: a key repeated within the batch would otherwise match
  -- the inserted row twice in \`sums\` and count it twice. Sorted by key: concurrent batches lock keys in one order.
  SELECT DISTINCT ON (customer_id, idempotency_key) *
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::jsonb[])
         WITH ORDINALITY AS t(customer_id, meter, quantity, idempotency_key, occurred_at, period_start, period_end, properties, ord)
   ORDER BY customer_id, idempotency_key, ord
), claimed AS (
  -- The key is claimed first (one table, across every partition): only the events it claimed are inserted.
  INSERT INTO usage_event_keys (customer_id, idempotency_key, period_start)
  SELECT customer_id, idempotency_key, period_start FROM input
  ON CONFLICT (customer_id, idempotency_key) DO NOTHING
  RETURNING customer_id, idempotency_key
), inserted AS (
  INSERT INTO usage_events (customer_id, meter, quantity, idempotency_key, occurred_at, period_start, properties)
  SELECT input.customer_id, input.meter, input.quantity, input.idempotency_key, input.occurred_at, input.period_start, input.properties
    FROM input JOIN claimed ON claimed.customer_id = input.customer_id AND claimed.idempotency_key = input.idempotency_key
  RETURNING customer_id, meter, quantity, idempotency_key, occurred_at, period_start
), daily AS (
  -- The daily rollup (UTC day of occurred_at), from the same inserted rows as the counters. Never past a
  -- counter: a day's quantity is part of its counter, which the cap check below bounds.
  INSERT INTO usage_daily AS d (customer_id, period_start, day, meter, quantity)
  SELECT customer_id, period_start, (occurred_at AT TIME ZONE 'UTC')::date, meter, sum(quantity) FROM inserted
   GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (customer_id, period_start, day, meter) DO UPDATE SET quantity = d.quantity + EXCLUDED.quantity
), sums AS (
  SELECT i.customer_id, i.meter, i.period_start, max(input.period_end) AS period_end, sum(i.quantity) AS delta
    FROM inserted i
    JOIN input ON input.customer_id = i.customer_id AND input.idempotency_key = i.idempotency_key
   GROUP BY i.customer_id, i.meter, i.period_start
), counted AS (
  INSERT INTO usage_counters AS c (customer_id, meter, period_start, period_end, total)
  SELECT customer_id, meter, period_start, period_end,
         CASE WHEN delta > $9::numeric THEN usage_counter_limit_exceeded(delta, $9::numeric) ELSE delta END
    FROM sums
   ORDER BY customer_id, meter, period_start
  ON CONFLICT (customer_id, meter, period_start)
  DO UPDATE SET total = CASE WHEN c.total::numeric + EXCLUDED.total > $9::numeric
                             THEN usage_counter_limit_exceeded(c.total::numeric + EXCLUDED.total, $9::numeric)
                             ELSE c.total + EXCLUDED.total END,
                updated_at = now()
  RETURNING c.customer_id, c.meter, c.period_start, c.period_end, c.total
)
-- Only the duplicates come back (usually none), not a row per inserted event: big batches stay cheap.
SELECT 'duplicate' AS kind, input.customer_id, input.idempotency_key AS key, NULL::text AS meter, NULL::timestamptz AS period_start,
       NULL::timestamptz AS period_end, NULL::bigint AS total
  FROM input
 WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.customer_id = input.customer_id AND i.idempotency_key = input.idempotency_key)
UNION ALL
SELECT 'counter', c.customer_id, NULL, c.meter, c.period_start, c.period_end, c.total FROM counted c
UNION ALL
SELECT 'delta', s.customer_id, NULL, s.meter, s.period_start, NULL, s.delta FROM sums s`;

/**
 * The same write for a batch that would take a counter past its cap: the events that do not fit are left out
 * and reported ('limit'), never failing the other rows, which belong to other customers' requests. Checked in
 * numeric: first each event against its counter alone (a huge event does not crowd out the small ones after
 * it), then the ones that fit alone, in key order. It reads counters as of the statement's start; if a
 * concurrent batch moved one since, the counter write still refuses (TGCAP) and the ingestor splits the batch.
 * Flags rather than filters until the INSERT, so the generic plan's row guesses stay ~10 and its joins hashed.
 */
const ADMITTING_INSERT_BATCH = `
WITH input AS (
  -- One row per (customer, key), the first one given: a key repeated within the batch would otherwise match
  -- the inserted row twice in \`sums\` and count it twice. Sorted by key: concurrent batches lock keys in one order.
  SELECT DISTINCT ON (customer_id, idempotency_key) *
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::jsonb[])
         WITH ORDINALITY AS t(customer_id, meter, quantity, idempotency_key, occurred_at, period_start, period_end, properties, ord)
   ORDER BY customer_id, idempotency_key, ord
), sized AS (
  SELECT i.*, coalesce(c.total, 0)::numeric AS counted, coalesce(c.total, 0)::numeric + i.quantity <= $9::numeric AS fits_alone
    FROM input i
    LEFT JOIN usage_counters c ON c.customer_id = i.customer_id AND c.meter = i.meter AND c.period_start = i.period_start
), admission AS (
  SELECT s.*,
         s.fits_alone AND s.counted + sum(s.quantity) FILTER (WHERE s.fits_alone)
           OVER (PARTITION BY s.customer_id, s.meter, s.period_start ORDER BY s.idempotency_key ROWS UNBOUNDED PRECEDING) <= $9::numeric AS admitted
    FROM sized s
), claimed AS (
  INSERT INTO usage_event_keys (customer_id, idempotency_key, period_start)
  SELECT customer_id, idempotency_key, period_start FROM admission WHERE admitted
  ON CONFLICT (customer_id, idempotency_key) DO NOTHING
  RETURNING customer_id, idempotency_key
), inserted AS (
  INSERT INTO usage_events (customer_id, meter, quantity, idempotency_key, occurred_at, period_start, properties)
  SELECT a.customer_id, a.meter, a.quantity, a.idempotency_key, a.occurred_at, a.period_start, a.properties
    FROM admission a JOIN claimed ON claimed.customer_id = a.customer_id AND claimed.idempotency_key = a.idempotency_key
  RETURNING customer_id, meter, quantity, idempotency_key, occurred_at, period_start
), daily AS (
  INSERT INTO usage_daily AS d (customer_id, period_start, day, meter, quantity)
  SELECT customer_id, period_start, (occurred_at AT TIME ZONE 'UTC')::date, meter, sum(quantity) FROM inserted
   GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (customer_id, period_start, day, meter) DO UPDATE SET quantity = d.quantity + EXCLUDED.quantity
), sums AS (
  SELECT i.customer_id, i.meter, i.period_start, max(a.period_end) AS period_end, sum(i.quantity) AS delta
    FROM inserted i
    JOIN admission a ON a.customer_id = i.customer_id AND a.idempotency_key = i.idempotency_key
   GROUP BY i.customer_id, i.meter, i.period_start
), counted AS (
  INSERT INTO usage_counters AS c (customer_id, meter, period_start, period_end, total)
  SELECT customer_id, meter, period_start, period_end, delta FROM sums
   ORDER BY customer_id, meter, period_start
  ON CONFLICT (customer_id, meter, period_start)
  DO UPDATE SET total = CASE WHEN c.total::numeric + EXCLUDED.total > $9::numeric
                             THEN usage_counter_limit_exceeded(c.total::numeric + EXCLUDED.total, $9::numeric)
                             ELSE c.total + EXCLUDED.total END,
                updated_at = now()
  RETURNING c.customer_id, c.meter, c.period_start, c.period_end, c.total
)
-- Only the duplicates and refusals come back (usually none), not a row per inserted event: big batches stay cheap.
SELECT 'duplicate' AS kind, a.customer_id, a.idempotency_key AS key, NULL::text AS meter, NULL::timestamptz AS period_start,
       NULL::timestamptz AS period_end, NULL::bigint AS total
  FROM admission a
 WHERE a.admitted AND (a.customer_id, a.idempotency_key) NOT IN (SELECT i.customer_id, i.idempotency_key FROM inserted i)
UNION ALL
-- Left out by the cap: a retry of an event already counted is still just a duplicate.
SELECT CASE WHEN EXISTS (SELECT 1 FROM usage_event_keys k WHERE k.customer_id = a.customer_id AND k.idempotency_key = a.idempotency_key)
            THEN 'duplicate' ELSE 'limit' END,
       a.customer_id, a.idempotency_key, a.meter, NULL, NULL, NULL
  FROM admission a
 WHERE NOT a.admitted
UNION ALL
SELECT 'counter', c.customer_id, NULL, c.meter, c.period_start, c.period_end, c.total FROM counted c
UNION ALL
SELECT 'delta', s.customer_id, NULL, s.meter, s.period_start, NULL, s.delta FROM sums s`;

interface Row {
  kind: 'duplicate' | 'limit' | 'counter' | 'delta';
  customer_id: string;
  key: string | null;
  meter: string | null;
  period_start: Date | null;
  period_end: Date | null;
  /** The new total ('counter') or the batch's delta ('delta') of one counter. */
  total: string | null;
}

/** One `usage_counters` row: a customer's total of a meter in a period. */
export interface StoredCounter {
  customerId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  total: bigint;
}

/**
 * The statement's eight array parameters, as Postgres array literals built in one pass. The usual batch
 * repeats a few instants (one "now" per request, one period per customer): each is formatted once.
 */
function statementColumns(events: LedgerEvent[]): string[] {
  const instants = new Map<number, string>();
  const iso = (date: Date) => {
    const time = date.getTime();
    let text = instants.get(time);
    if (text === undefined) instants.set(time, (text = date.toISOString()));
    return text;
  };
  const columns: string[][] = [[], [], [], [], [], [], [], []];
  const [customers, meters, quantities, keys, occurred, starts, ends, properties] = columns;
  for (const event of events) {
    customers.push(arrayElement(event.customerId));
    meters.push(arrayElement(event.meter));
    quantities.push(String(event.quantity));
    keys.push(arrayElement(event.idempotencyKey));
    occurred.push(iso(event.occurredAt));
    starts.push(iso(event.periodStart));
    ends.push(iso(event.periodEnd));
    properties.push(event.properties ? arrayElement(JSON.stringify(event.properties)) : 'NULL');
  }
  return columns.map((column) => `{${column.join(',')}}`);
}

/** One text element of a Postgres array literal: quoted, with `"` and `\\` escaped (as node-postgres does). */
function arrayElement(text: string): string {
  return `"${/["\\]/.test(text) ? text.replace(/["\\]/g, '\\$&') : text}"`;
}

@Injectable()
export class UsageLedger {
  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(TollgateConfig) private readonly config: Pick<TollgateConfig, 'maxCounterTotal'>,
  ) {}

  async insertBatch(events: LedgerEvent[]): Promise<BatchResult> {
    try {
      return await this.write('tollgate_ledger_insert_batch', INSERT_BATCH, events);
    } catch (error) {
      if ((error as { code?: string }).code !== 'TGCAP') throw error;
      // A counter of this batch would pass its cap: write it again, leaving out only the events that do not fit.
      return this.write('tollgate_ledger_insert_batch_admitting', ADMITTING_INSERT_BATCH, events);
    }
  }

  private async write(name: string, text: string, events: LedgerEvent[]): Promise<BatchResult> {
    const rows = await queryPrepared<Row>(this.dataSource, name, text, [...statementColumns(events), this.config.maxCounterTotal.toString()]);
    const notInserted = new Set<string>();
    const refused = new Map<string, UsageRefusal>();
    const moved = new Map<string, { row: Row; delta?: bigint }>();
    const keyOf = (row: Row) => counterKey(row.customer_id, row.meter!, new Date(row.period_start!));
    for (const row of rows) {
      if (row.kind === 'counter' || row.kind === 'delta') {
        const entry = moved.get(keyOf(row)) ?? { row };
        if (row.kind === 'counter') entry.row = row;
        else entry.delta = BigInt(row.total!);
        moved.set(keyOf(row), entry);
        continue;
      }
      const identity = eventIdentity(row.customer_id, row.key!);
      notInserted.add(identity);
      if (row.kind === 'limit') {
        refused.set(identity, {
          reason: 'counter_limit',
          message: `the ${row.meter} counter of this period would pass its cap of ${this.config.maxCounterTotal} (TOLLGATE_MAX_COUNTER_TOTAL)`,
        });
      }
    }
    const counters: CounterTotal[] = [...moved.values()].map(({ row, delta }) => ({
      customerId: row.customer_id,
      meter: row.meter!,
      periodStart: new Date(row.period_start!),
      periodEnd: new Date(row.period_end!),
      total: BigInt(row.total!),
      delta: delta!,
    }));
    const inserted = new Set<string>();
    for (const event of events) {
      const identity = eventIdentity(event.customerId, event.idempotencyKey);
      if (!notInserted.has(identity)) inserted.add(identity);
    }
    return { inserted, counters, refused };
  }

  async counterTotal(customerId: string, meter: string, periodStart: Date): Promise<bigint> {
    const rows = (await this.dataSource.query(
      'SELECT total::text AS total FROM usage_counters WHERE customer_id = $1 AND meter = $2 AND period_start = $3',
      [customerId, meter, periodStart.toISOString()],
    )) as Array<{ total: string }>;
    return rows.length ? BigInt(rows[0].total) : 0n;
  }

  /** Whether this customer's event with this idempotency key is in the ledger (one index lookup, every partition). */
  async hasEvent(customerId: string, idempotencyKey: string): Promise<boolean> {
    const rows = (await this.dataSource.query('SELECT 1 FROM usage_event_keys WHERE customer_id = $1 AND idempotency_key = $2', [customerId, idempotencyKey])) as unknown[];
    return rows.length > 0;
  }

  /**
   * Every counter (or only these customers'), oldest period first: what billing pushes to Stripe. Billing reads
   * counters through here instead of querying `usage_counters` itself.
   */
  async counters(customerIds?: readonly string[]): Promise<StoredCounter[]> {
    const rows = (await this.dataSource.query(
      `SELECT customer_id, meter, period_start, period_end, total::text AS total FROM usage_counters
        WHERE $1::text[] IS NULL OR customer_id = ANY($1::text[])
        ORDER BY period_start, customer_id, meter`,
      [customerIds ? [...customerIds] : null],
    )) as Array<{ customer_id: string; meter: string; period_start: Date; period_end: Date; total: string }>;
    return rows.map((row) => ({
      customerId: row.customer_id,
      meter: row.meter,
      periodStart: new Date(row.period_start),
      periodEnd: new Date(row.period_end),
      total: BigInt(row.total),
    }));
  }

  /** Whether some counter's period end plus one of these delays falls in (since, until]: a period just closed. */
  async periodClosedWithin(since: Date, until: Date, delaysMs: readonly number[]): Promise<boolean> {
    const [{ due }] = (await this.dataSource.query(
      `SELECT EXISTS (
         SELECT 1 FROM usage_counters, unnest($3::float8[]) AS d(delay)
          WHERE period_end + d.delay * interval '1 millisecond' > $1 AND period_end + d.delay * interval '1 millisecond' <= $2
       ) AS due`,
      [since.toISOString(), until.toISOString(), [...delaysMs]],
    )) as Array<{ due: boolean }>;
    return due;
  }

  async countersForPeriod(customerId: string, periodStart: Date): Promise<Map<string, bigint>> {
    const rows = (await this.dataSource.query('SELECT meter, total::text AS total FROM usage_counters WHERE customer_id = $1 AND period_start = $2', [
      customerId,
      periodStart.toISOString(),
    ])) as Array<{ meter: string; total: string }>;
    return new Map(rows.map((row) => [row.meter, BigInt(row.total)]));
  }

  /** A period's usage per UTC day of occurred_at and meter, from the daily rollups (never the raw events). */
  async dailySeries(customerId: string, periodStart: Date): Promise<Array<{ date: string; meter: string; quantity: bigint }>> {
    const rows = (await this.dataSource.query(
      `SELECT to_char(day, 'YYYY-MM-DD') AS date, meter, quantity::text AS quantity
         FROM usage_daily WHERE customer_id = $1 AND period_start = $2
        ORDER BY day, meter`,
      [customerId, periodStart.toISOString()],
    )) as Array<{ date: string; meter: string; quantity: string }>;
    return rows.map((row) => ({ date: row.date, meter: row.meter, quantity: BigInt(row.quantity) }));
  }

  /**
   * The latest ledger events (newest first) in [from, to), optionally of one customer and/or meter: what support
   * looks at. The time window bounds the scan; at most 500 rows.
   */
  async latestEvents(filter: { customerId?: string; meter?: string; from: Date; to: Date; limit?: number }): Promise<LedgerEventView[]> {
    const rows = (await this.dataSource.query(
      `SELECT id::text AS id, customer_id, meter, quantity::text AS quantity, idempotency_key, occurred_at, recorded_at
         FROM usage_events
        WHERE ($1::text IS NULL OR customer_id = $1) AND ($2::text IS NULL OR meter = $2) AND occurred_at >= $3 AND occurred_at < $4
        ORDER BY occurred_at DESC, id DESC LIMIT $5`,
      [filter.customerId ?? null, filter.meter ?? null, filter.from.toISOString(), filter.to.toISOString(), Math.min(filter.limit ?? 100, 500)],
    )) as Array<{ id: string; customer_id: string; meter: string; quantity: string; idempotency_key: string; occurred_at: Date | string; recorded_at: Date | string }>;
    return rows.map((row) => ({
      id: row.id,
      customerId: row.customer_id,
      meter: row.meter,
      quantity: jsonQuantity(BigInt(row.quantity)),
      idempotencyKey: row.idempotency_key,
      occurredAt: new Date(row.occurred_at).toISOString(),
      recordedAt: new Date(row.recorded_at).toISOString(),
    }));
  }

  /** Records an alert once; true only for the caller that recorded it. */
  async recordAlertOnce(
    alert: { customerId: string; meter: string; periodStart: Date; kind: 'threshold' | 'quota_exceeded'; threshold: number; total: bigint },
  ): Promise<boolean> {
    const rows = (await this.dataSource.query(
      `INSERT INTO usage_alerts (customer_id, meter, period_start, kind, threshold, total) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING RETURNING threshold`,
      [alert.customerId, alert.meter, alert.periodStart.toISOString(), alert.kind, alert.threshold, alert.total.toString()],
    )) as unknown[];
    return rows.length > 0;
  }
}
