import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { InjectTollgateDataSource } from '../database/tollgate-connection.js';

export type PushStatus = 'pending' | 'sent' | 'failed' | 'dry_run';

export interface Push {
  id: string;
  identifier: string;
  customerId: string;
  stripeCustomerId: string | null;
  meter: string;
  eventName: string;
  periodStart: Date;
  periodEnd: Date;
  fromTotal: number;
  toTotal: number;
  delta: number;
  eventTimestamp: Date;
  status: PushStatus;
  attempts: number;
  createdAt: Date;
}

export interface PushedTotals {
  latest: number;
  settled: number;
  low: number;
  high: number;
}

export interface UnpushedCounter {
  customerId: string;
  stripeCustomerId: string | null;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  total: number;
  pushed: number;
}

interface PushRow {
  id: string;
  identifier: string;
  customer_id: string;
  stripe_customer_id: string | null;
  meter: string;
  event_name: string;
  period_start: Date;
  period_end: Date;
  from_total: string;
  to_total: string;
  delta: string;
  event_timestamp: Date;
  status: PushStatus;
  attempts: number;
  created_at: Date;
}

const toPush = (row: PushRow): Push => ({
  id: row.id,
  identifier: row.identifier,
  customerId: row.customer_id,
  stripeCustomerId: row.stripe_customer_id,
  meter: row.meter,
  eventName: row.event_name,
  periodStart: new Date(row.period_start),
  periodEnd: new Date(row.period_end),
  fromTotal: Number(row.from_total),
  toTotal: Number(row.to_total),
  delta: Number(row.delta),
  eventTimestamp: new Date(row.event_timestamp),
  status: row.status,
  attempts: row.attempts,
  createdAt: new Date(row.created_at),
});

/**
 * Deterministic and ≤ 100 characters (Stripe's limit): the same counter state always yields the same
 * identifier, so a crash or a retry re-sends exactly what Stripe may already have.
 */
export function pushIdentifier(customerId: string, meter: string, periodStart: Date, toTotal: number): string {
  const identifier = `tg_${customerId}_${meter}_${Math.floor(periodStart.getTime() / 1000)}_${toTotal}`;
  if (identifier.length <= 100) return identifier;
  return `tg_${createHash('sha256').update(identifier).digest('hex').slice(0, 60)}_${toTotal}`;
}

/** The `stripe_pushes` outbox: what was (or would be) sent to Stripe for each counter. */
@Injectable()
export class PushOutbox {
  constructor(@InjectTollgateDataSource() private readonly dataSource: DataSource) {}

  /** Counters whose total differs from what was pushed (dry runs count separately from real pushes). */
  async unpushed(dryRun: boolean): Promise<UnpushedCounter[]> {
    const statuses = dryRun ? ['dry_run'] : ['pending', 'sent'];
    const rows = (await this.dataSource.query(
      `SELECT c.customer_id, cu.stripe_customer_id, c.meter, c.period_start, c.period_end, c.total::text AS total,
              coalesce(p.pushed, 0)::text AS pushed
         FROM usage_counters c
         JOIN customers cu ON cu.id = c.customer_id
         LEFT JOIN (SELECT customer_id, meter, period_start, max(to_total) AS pushed
                      FROM stripe_pushes WHERE status = ANY($1::text[])
                     GROUP BY customer_id, meter, period_start) p
           ON p.customer_id = c.customer_id AND p.meter = c.meter AND p.period_start = c.period_start
        WHERE c.total <> coalesce(p.pushed, 0) AND ($2 OR cu.stripe_customer_id IS NOT NULL)
        ORDER BY c.period_start, c.customer_id, c.meter`,
      [statuses, dryRun],
    )) as Array<{ customer_id: string; stripe_customer_id: string | null; meter: string; period_start: Date; period_end: Date; total: string; pushed: string }>;
    return rows.map((row) => ({
      customerId: row.customer_id,
      stripeCustomerId: row.stripe_customer_id,
      meter: row.meter,
      periodStart: new Date(row.period_start),
      periodEnd: new Date(row.period_end),
      total: Number(row.total),
      pushed: Number(row.pushed),
    }));
  }

  /** Writes pushes before any call to Stripe, in one statement; an existing identifier is left as it is. */
  async plan(pushes: Array<Omit<Push, 'id' | 'attempts' | 'createdAt'>>): Promise<void> {
    if (pushes.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO stripe_pushes (identifier, customer_id, stripe_customer_id, meter, event_name, period_start, period_end,
                                  from_total, to_total, delta, event_timestamp, status)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
                            $8::bigint[], $9::bigint[], $10::bigint[], $11::timestamptz[], $12::text[])
       ON CONFLICT (identifier) DO NOTHING`,
      [
        pushes.map((p) => p.identifier),
        pushes.map((p) => p.customerId),
        pushes.map((p) => p.stripeCustomerId),
        pushes.map((p) => p.meter),
        pushes.map((p) => p.eventName),
        pushes.map((p) => p.periodStart.toISOString()),
        pushes.map((p) => p.periodEnd.toISOString()),
        pushes.map((p) => String(p.fromTotal)),
        pushes.map((p) => String(p.toTotal)),
        pushes.map((p) => String(p.delta)),
        pushes.map((p) => p.eventTimestamp.toISOString()),
        pushes.map((p) => p.status),
      ],
    );
  }

  async pending(): Promise<Push[]> {
    const rows = (await this.dataSource.query(
      `SELECT * FROM stripe_pushes WHERE status = 'pending' ORDER BY customer_id, meter, period_start, to_total`,
    )) as PushRow[];
    return rows.map(toPush);
  }

  async markSent(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE stripe_pushes SET status = 'sent', sent_at = now(), updated_at = now() WHERE id = $1`, [id]);
  }

  async markFailed(id: string, error: string): Promise<void> {
    await this.dataSource.query(`UPDATE stripe_pushes SET status = 'failed', last_error = $2, updated_at = now() WHERE id = $1`, [id, error.slice(0, 500)]);
  }

  async recordAttempt(id: string, error: string | null): Promise<void> {
    await this.dataSource.query(`UPDATE stripe_pushes SET attempts = attempts + 1, last_error = $2, updated_at = now() WHERE id = $1`, [id, error?.slice(0, 500) ?? null]);
  }

  /**
   * What Stripe should show for each counter, given that its summaries lag: `settled` is the total of the last
   * push sent before `settledBefore` (Stripe has surely processed it), `low`..`high` the range its summary may
   * show while the pushes sent since are being processed, `latest` the total of the last push sent.
   */
  async pushedTotals(periodStarts: Date[], settledBefore: Date = new Date()): Promise<Map<string, PushedTotals>> {
    if (periodStarts.length === 0) return new Map();
    const rows = (await this.dataSource.query(
      `SELECT customer_id, meter, period_start,
              coalesce((array_agg(to_total ORDER BY id DESC))[1], 0)::text AS latest,
              coalesce((array_agg(to_total ORDER BY id DESC) FILTER (WHERE sent_at < $2))[1], 0)::text AS settled,
              coalesce(min(to_total) FILTER (WHERE sent_at >= $2), 0)::text AS recent_low,
              coalesce(max(to_total) FILTER (WHERE sent_at >= $2), 0)::text AS recent_high,
              count(*) FILTER (WHERE sent_at >= $2)::int AS recent
         FROM stripe_pushes
        WHERE status = 'sent' AND period_start = ANY($1::timestamptz[]) GROUP BY 1, 2, 3`,
      [periodStarts.map((date) => date.toISOString()), settledBefore.toISOString()],
    )) as Array<{ customer_id: string; meter: string; period_start: Date; latest: string; settled: string; recent_low: string; recent_high: string; recent: number }>;
    return new Map(
      rows.map((row) => {
        const settled = Number(row.settled);
        const low = row.recent > 0 ? Math.min(settled, Number(row.recent_low)) : settled;
        const high = row.recent > 0 ? Math.max(settled, Number(row.recent_high)) : settled;
        return [`${row.customer_id}|${row.meter}|${new Date(row.period_start).getTime()}`, { latest: Number(row.latest), settled, low, high }];
      }),
    );
  }

  async recent(limit = 100): Promise<Push[]> {
    const rows = (await this.dataSource.query(`SELECT * FROM stripe_pushes ORDER BY id DESC LIMIT $1`, [limit])) as PushRow[];
    return rows.map(toPush);
  }
}
