import { Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { queryPrepared } from '../database/prepared-query.js';
import { InjectTollgateDataSource } from '../database/tollgate-connection.js';

/** One event ready for the ledger: validated, with its period resolved. */
export interface LedgerEvent {
  customerId: string;
  meter: string;
  quantity: number;
  idempotencyKey: string;
  occurredAt: Date;
  periodStart: Date;
  periodEnd: Date;
  properties: Record<string, unknown> | null;
}

export interface CounterTotal {
  customerId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  delta: number;
  total: number;
}

export interface BatchResult {
  /** `customerId\u0000idempotencyKey` of the events this batch inserted (the others were duplicates). */
  inserted: Set<string>;
  counters: CounterTotal[];
}

export const eventIdentity = (customerId: string, idempotencyKey: string) => `${customerId}\u0000${idempotencyKey}`;

/**
 * The ledger write: events and the counters they move, in ONE statement. Counters are summed from the rows
 * the INSERT actually returned, so a duplicate (ON CONFLICT DO NOTHING) can never reach a counter, and a
 * crash can never leave events without their counts or counts without their events.
 */
const INSERT_BATCH = `
WITH input AS (
  -- One row per (customer, key), the first one given: a key repeated within the batch would otherwise match
  -- the inserted row twice in \`sums\` and count it twice. Sorted by key: concurrent batches lock keys in one order.
  SELECT DISTINCT ON (customer_id, idempotency_key) *
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::timestamptz[], $8::jsonb[])
         WITH ORDINALITY AS t(customer_id, meter, quantity, idempotency_key, occurred_at, period_start, period_end, properties, ord)
   ORDER BY customer_id, idempotency_key, ord
), inserted AS (
  INSERT INTO usage_events (customer_id, meter, quantity, idempotency_key, occurred_at, period_start, properties)
  SELECT customer_id, meter, quantity, idempotency_key, occurred_at, period_start, properties FROM input
  ON CONFLICT (customer_id, idempotency_key) DO NOTHING
  RETURNING customer_id, meter, quantity, idempotency_key, period_start
), sums AS (
  SELECT i.customer_id, i.meter, i.period_start, max(input.period_end) AS period_end, sum(i.quantity) AS delta
    FROM inserted i
    JOIN input ON input.customer_id = i.customer_id AND input.idempotency_key = i.idempotency_key
   GROUP BY i.customer_id, i.meter, i.period_start
), counted AS (
  INSERT INTO usage_counters AS c (customer_id, meter, period_start, period_end, total)
  SELECT customer_id, meter, period_start, period_end, delta FROM sums
   ORDER BY customer_id, meter, period_start
  ON CONFLICT (customer_id, meter, period_start)
  DO UPDATE SET total = c.total + EXCLUDED.total, updated_at = now()
  RETURNING c.customer_id, c.meter, c.period_start, c.period_end, c.total
)
-- Only the duplicates come back (usually none), not a row per inserted event: big batches stay cheap.
SELECT 'duplicate' AS kind, input.customer_id, input.idempotency_key AS key, NULL::text AS meter, NULL::timestamptz AS period_start,
       NULL::timestamptz AS period_end, NULL::bigint AS total, NULL::bigint AS delta
  FROM input
 WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.customer_id = input.customer_id AND i.idempotency_key = input.idempotency_key)
UNION ALL
SELECT 'counter', c.customer_id, NULL, c.meter, c.period_start, c.period_end, c.total, s.delta
  FROM counted c JOIN sums s ON s.customer_id = c.customer_id AND s.meter = c.meter AND s.period_start = c.period_start`;

interface Row {
  kind: 'duplicate' | 'counter';
  customer_id: string;
  key: string | null;
  meter: string | null;
  period_start: Date | null;
  period_end: Date | null;
  total: string | null;
  delta: string | null;
}

@Injectable()
export class UsageLedger {
  constructor(@InjectTollgateDataSource() private readonly dataSource: DataSource) {}

  async insertBatch(events: LedgerEvent[]): Promise<BatchResult> {
    const rows = await queryPrepared<Row>(this.dataSource, 'tollgate_ledger_insert_batch', INSERT_BATCH, [
      events.map((e) => e.customerId),
      events.map((e) => e.meter),
      events.map((e) => String(e.quantity)),
      events.map((e) => e.idempotencyKey),
      events.map((e) => e.occurredAt.toISOString()),
      events.map((e) => e.periodStart.toISOString()),
      events.map((e) => e.periodEnd.toISOString()),
      events.map((e) => (e.properties ? JSON.stringify(e.properties) : null)),
    ]);
    const duplicates = new Set<string>();
    const counters: CounterTotal[] = [];
    for (const row of rows) {
      if (row.kind === 'duplicate') duplicates.add(eventIdentity(row.customer_id, row.key!));
      else {
        counters.push({
          customerId: row.customer_id,
          meter: row.meter!,
          periodStart: new Date(row.period_start!),
          periodEnd: new Date(row.period_end!),
          total: Number(row.total),
          delta: Number(row.delta),
        });
      }
    }
    const inserted = new Set<string>();
    for (const event of events) {
      const identity = eventIdentity(event.customerId, event.idempotencyKey);
      if (!duplicates.has(identity)) inserted.add(identity);
    }
    return { inserted, counters };
  }

  async counterTotal(customerId: string, meter: string, periodStart: Date): Promise<number> {
    const rows = (await this.dataSource.query(
      'SELECT total FROM usage_counters WHERE customer_id = $1 AND meter = $2 AND period_start = $3',
      [customerId, meter, periodStart.toISOString()],
    )) as Array<{ total: string }>;
    return rows.length ? Number(rows[0].total) : 0;
  }

  async countersForPeriod(customerId: string, periodStart: Date): Promise<Map<string, number>> {
    const rows = (await this.dataSource.query('SELECT meter, total FROM usage_counters WHERE customer_id = $1 AND period_start = $2', [
      customerId,
      periodStart.toISOString(),
    ])) as Array<{ meter: string; total: string }>;
    return new Map(rows.map((row) => [row.meter, Number(row.total)]));
  }

  async dailySeries(customerId: string, periodStart: Date): Promise<Array<{ date: string; meter: string; quantity: number }>> {
    const rows = (await this.dataSource.query(
      `SELECT to_char(date_trunc('day', occurred_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') AS date, meter, sum(quantity) AS quantity
         FROM usage_events WHERE customer_id = $1 AND period_start = $2
        GROUP BY 1, 2 ORDER BY 1, 2`,
      [customerId, periodStart.toISOString()],
    )) as Array<{ date: string; meter: string; quantity: string }>;
    return rows.map((row) => ({ date: row.date, meter: row.meter, quantity: Number(row.quantity) }));
  }

  /** Records an alert once; true only for the caller that recorded it. */
  async recordAlertOnce(
    alert: { customerId: string; meter: string; periodStart: Date; kind: 'threshold' | 'quota_exceeded'; threshold: number; total: number },
  ): Promise<boolean> {
    const rows = (await this.dataSource.query(
      `INSERT INTO usage_alerts (customer_id, meter, period_start, kind, threshold, total) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING RETURNING threshold`,
      [alert.customerId, alert.meter, alert.periodStart.toISOString(), alert.kind, alert.threshold, alert.total],
    )) as unknown[];
    return rows.length > 0;
  }
}
