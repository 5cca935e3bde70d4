import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { billingAnchor, type CustomerEntity, CustomersService, endedPeriod } from '../customers/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { type BillingPeriod, calendarMonth, periodContaining, UsageLedger } from '../metering/index.js';

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
  lastError: string | null;
  /** Why it failed: Stripe's error code (e.g. `no_meter`, `meter_event_customer_not_found`) or `too_old`. */
  failureCode: string | null;
  /** The active meter of its event name when it was sent (null: none was found). */
  meterId: string | null;
  /** The push that re-sent its usage once the cause of its failure was fixed. */
  replannedAs: string | null;
}

export type PlannedPush = Omit<Push, 'id' | 'attempts' | 'createdAt' | 'lastError' | 'failureCode' | 'meterId' | 'replannedAs'> & {
  failureCode?: string | null;
  lastError?: string | null;
  /** The ids of the failed pushes whose usage this one re-sends. */
  replaces?: string[];
};

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
  /** Failed pushes of this counter whose usage was not re-sent yet: the counter waits for their cause to be fixed. */
  failed: Push[];
  /** Failed pushes of this counter so far (a re-plan gets a fresh identifier: Stripe remembers the failed one). */
  failures: number;
  /**
   * Whether the counter's period is one of the customer's Stripe billing periods (stepped from the current
   * subscription's anchor, or the period the last subscription ended in). A calendar-month counter of a customer
   * who was on a free tier before subscribing is not: that usage is on no Stripe price, and pushing it now would
   * land it on the first paid invoice.
   */
  stripePeriod: boolean;
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
  last_error: string | null;
  failure_code: string | null;
  meter_id: string | null;
  replanned_as: string | null;
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
  lastError: row.last_error,
  failureCode: row.failure_code,
  meterId: row.meter_id,
  replannedAs: row.replanned_as,
});

/**
 * Deterministic and ≤ 100 characters (Stripe's limit): the same counter state always yields the same
 * identifier, so a crash or a retry re-sends exactly what Stripe may already have.
 */
export function pushIdentifier(customerId: string, meter: string, periodStart: Date, toTotal: number, replan = 0): string {
  // A re-plan after a failure needs a fresh identifier: Stripe keeps the failed one for 24 h and would refuse it.
  const suffix = replan > 0 ? `_r${replan}` : '';
  const identifier = `tg_${customerId}_${meter}_${Math.floor(periodStart.getTime() / 1000)}_${toTotal}`;
  if (identifier.length + suffix.length <= 100) return identifier + suffix;
  return `tg_${createHash('sha256').update(identifier).digest('hex').slice(0, 60)}_${toTotal}${suffix}`;
}

/** The `stripe_pushes` outbox: what was (or would be) sent to Stripe for each counter. */
@Injectable()
export class PushOutbox {
  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(CustomersService) private readonly customers: CustomersService,
  ) {}

  /**
   * Counters whose total differs from what was pushed (dry runs count separately from real pushes). What was
   * pushed is the sum of the deltas of the counter's pending and sent pushes (Stripe sums them; a correction is a
   * negative one). A failed push does not count: its counter comes back with it, so the caller can re-plan its
   * usage once the cause is fixed.
   */
  async unpushed(dryRun: boolean): Promise<UnpushedCounter[]> {
    const statuses = dryRun ? ['dry_run'] : ['pending', 'sent'];
    // Counters and customers belong to metering and customers: read through their services, not their tables.
    // Without a dry run only customers known to Stripe have anything to push.
    const billable = dryRun ? null : await this.customers.billable();
    const counters = await this.ledger.counters(billable?.map((customer) => customer.id));
    const customers = new Map<string, CustomerEntity>(
      (billable ?? (await this.customers.findMany(counters.map((counter) => counter.customerId)))).map((customer) => [customer.id, customer]),
    );
    const pushRows = (await this.dataSource.query(
      `SELECT customer_id, meter, period_start,
              coalesce(sum(delta) FILTER (WHERE status = ANY($1::text[])), 0)::text AS pushed,
              count(*) FILTER (WHERE status = 'failed')::int AS failures,
              array_agg(id) FILTER (WHERE status = 'failed' AND replanned_as IS NULL) AS open_failures
         FROM stripe_pushes
        GROUP BY customer_id, meter, period_start`,
      [statuses],
    )) as Array<{ customer_id: string; meter: string; period_start: Date; pushed: string; failures: number; open_failures: string[] | null }>;
    const counterKey = (customerId: string, meter: string, periodStart: Date) => `${customerId}\u0000${meter}\u0000${periodStart.getTime()}`;
    const pushes = new Map(pushRows.map((row) => [counterKey(row.customer_id, row.meter, new Date(row.period_start)), row]));
    const rows = counters.flatMap((counter) => {
      const customer = customers.get(counter.customerId);
      const pushed = pushes.get(counterKey(counter.customerId, counter.meter, counter.periodStart));
      if (!customer || counter.total === BigInt(pushed?.pushed ?? 0)) return [];
      return [{ counter, customer, pushed: pushed?.pushed ?? '0', failures: pushed?.failures ?? 0, openFailures: pushed?.open_failures ?? null }];
    });
    const failedIds = dryRun ? [] : rows.flatMap((row) => (row.openFailures ?? []).map(String));
    const failed = await this.byIds(failedIds);
    return rows.map(({ counter, customer, pushed, failures, openFailures }) => {
      const ids = new Set((openFailures ?? []).map(String));
      const period = { start: counter.periodStart, end: counter.periodEnd };
      return {
        customerId: counter.customerId,
        stripeCustomerId: customer.stripeCustomerId,
        meter: counter.meter,
        periodStart: counter.periodStart,
        periodEnd: counter.periodEnd,
        total: Number(counter.total),
        pushed: Number(pushed),
        failed: dryRun ? [] : failed.filter((push) => ids.has(push.id)),
        failures: dryRun ? 0 : failures,
        stripePeriod: isStripePeriod(period, billingAnchor(customer), endedPeriod(customer)),
      };
    });
  }

  private async byIds(ids: string[]): Promise<Push[]> {
    if (ids.length === 0) return [];
    const rows = (await this.dataSource.query(`SELECT * FROM stripe_pushes WHERE id = ANY($1::bigint[])`, [ids])) as PushRow[];
    return rows.map(toPush);
  }

  /** Writes pushes before any call to Stripe, in one statement; an existing identifier is left as it is. */
  async plan(pushes: PlannedPush[]): Promise<void> {
    if (pushes.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO stripe_pushes (identifier, customer_id, stripe_customer_id, meter, event_name, period_start, period_end,
                                  from_total, to_total, delta, event_timestamp, status, failure_code, last_error, failed_at)
       SELECT u.*, CASE WHEN u.failure_code IS NULL THEN NULL ELSE now() END
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[],
                     $8::bigint[], $9::bigint[], $10::bigint[], $11::timestamptz[], $12::text[], $13::text[], $14::text[])
              AS u(identifier, customer_id, stripe_customer_id, meter, event_name, period_start, period_end, from_total, to_total,
                   delta, event_timestamp, status, failure_code, last_error)
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
        pushes.map((p) => p.failureCode ?? null),
        pushes.map((p) => p.lastError ?? null),
      ],
    );
    // A re-plan takes over from the failed push it replaces (which stays, failed, for the record).
    for (const push of pushes.filter((p) => p.replaces?.length)) {
      await this.dataSource.query(`UPDATE stripe_pushes SET replanned_as = $2, updated_at = now() WHERE id = ANY($1::bigint[]) AND replanned_as IS NULL`, [push.replaces, push.identifier]);
    }
  }

  async pending(): Promise<Push[]> {
    const rows = (await this.dataSource.query(
      `SELECT * FROM stripe_pushes WHERE status = 'pending' ORDER BY customer_id, meter, period_start, to_total`,
    )) as PushRow[];
    return rows.map(toPush);
  }

  /**
   * Sent, with the meter its event name pointed to then (a later "no meter" report is checked against it). Only a
   * pending push becomes sent: one that a meter error report failed meanwhile stays failed (Stripe answering
   * "already exists" to its re-send does not mean it was billed). False when the push was no longer pending.
   */
  async markSent(id: string, meterId: string | null = null): Promise<boolean> {
    const rows = (await this.dataSource.query(
      `WITH sent AS (
         UPDATE stripe_pushes SET status = 'sent', sent_at = now(), updated_at = now(), meter_id = coalesce($2, meter_id)
          WHERE id = $1 AND status = 'pending' RETURNING id)
       SELECT id FROM sent`,
      [id, meterId],
    )) as Array<{ id: string }>;
    return rows.length > 0;
  }

  async markFailed(id: string, error: string, code: string | null = null, meterId: string | null = null): Promise<void> {
    await this.dataSource.query(
      `UPDATE stripe_pushes SET status = 'failed', last_error = $2, failure_code = $3, meter_id = coalesce($4, meter_id), failed_at = now(), updated_at = now()
        WHERE id = $1 AND status = 'pending'`,
      [id, error.slice(0, 500), code, meterId],
    );
  }

  /**
   * Stripe reported these pushes invalid after accepting them (asynchronous meter errors): failed, with Stripe's
   * reason. Only sent or pending ones change; returns those that did.
   */
  async failByIdentifiers(failures: Array<{ identifier: string; code: string; message: string }>): Promise<Push[]> {
    if (failures.length === 0) return [];
    const rows = (await this.dataSource.query(
      // As a CTE: TypeORM answers a bare UPDATE with [rows, count], a SELECT with the rows.
      `WITH failed AS (
         UPDATE stripe_pushes s SET status = 'failed', failure_code = f.code, last_error = left(f.message, 500), failed_at = now(), updated_at = now()
           FROM unnest($1::text[], $2::text[], $3::text[]) AS f(identifier, code, message)
          WHERE s.identifier = f.identifier AND s.status IN ('sent', 'pending')
          RETURNING s.*)
       SELECT * FROM failed`,
      [failures.map((f) => f.identifier), failures.map((f) => f.code), failures.map((f) => f.message)],
    )) as PushRow[];
    return rows.map(toPush);
  }

  /**
   * Pushes sent (or attempted) inside a window while no active meter had their event name (meter_id '' is recorded
   * then), plus, with `meterId`, those recorded against that meter: when Stripe reports no_meter or archived_meter,
   * every such event in the window failed, sampled or not. `eventName` narrows it to one event name.
   */
  async failByMeter(meterId: string | null, eventName: string | null, window: { start: Date; end: Date }, code: string, message: string): Promise<Push[]> {
    const rows = (await this.dataSource.query(
      `WITH failed AS (
         UPDATE stripe_pushes SET status = 'failed', failure_code = $5, last_error = left($6, 500), failed_at = now(), updated_at = now()
          WHERE (meter_id = '' OR meter_id = $1) AND ($2::text IS NULL OR event_name = $2)
            AND (status = 'sent' OR (status = 'pending' AND attempts > 0)) AND coalesce(sent_at, updated_at) BETWEEN $3 AND $4
          RETURNING *)
       SELECT * FROM failed`,
      [meterId, eventName, window.start.toISOString(), window.end.toISOString(), code, message],
    )) as PushRow[];
    return rows.map(toPush);
  }

  /** The sum of the deltas of a counter's sent pushes: what Stripe's meter should hold for it. */
  async sentTotal(customerId: string, meter: string, periodStart: Date): Promise<number> {
    const [row] = (await this.dataSource.query(
      `SELECT coalesce(sum(delta), 0)::text AS total FROM stripe_pushes WHERE customer_id = $1 AND meter = $2 AND period_start = $3 AND status = 'sent'`,
      [customerId, meter, periodStart.toISOString()],
    )) as Array<{ total: string }>;
    return Number(row.total);
  }

  /** The operator asks for a failed push to be re-sent (e.g. after fixing what Stripe refused). */
  async requestRetry(id: string): Promise<Push | null> {
    const rows = (await this.dataSource.query(
      `WITH retried AS (
         UPDATE stripe_pushes SET failure_code = 'retry_requested', updated_at = now() WHERE id = $1 AND status = 'failed' AND replanned_as IS NULL RETURNING *)
       SELECT * FROM retried`,
      [id],
    )) as PushRow[];
    return rows[0] ? toPush(rows[0]) : null;
  }

  /** Failed pushes whose usage has not been re-sent yet: what Stripe does not have. */
  async unresolvedFailures(limit = 100): Promise<Push[]> {
    const rows = (await this.dataSource.query(`SELECT * FROM stripe_pushes WHERE status = 'failed' AND replanned_as IS NULL ORDER BY id DESC LIMIT $1`, [limit])) as PushRow[];
    return rows.map(toPush);
  }

  async recordAttempt(id: string, error: string | null): Promise<void> {
    await this.dataSource.query(`UPDATE stripe_pushes SET attempts = attempts + 1, last_error = $2, updated_at = now() WHERE id = $1`, [id, error?.slice(0, 500) ?? null]);
  }

  /**
   * What Stripe should show for each counter, given that its summaries lag: `settled` sums the deltas of the pushes
   * sent before `settledBefore` (Stripe has surely processed them), `low`..`high` is the range its summary may show
   * while the pushes sent since are processed, `latest` sums every sent push.
   */
  async pushedTotals(periodStarts: Date[], settledBefore: Date = new Date()): Promise<Map<string, PushedTotals>> {
    if (periodStarts.length === 0) return new Map();
    const rows = (await this.dataSource.query(
      `SELECT customer_id, meter, period_start,
              coalesce(sum(delta) FILTER (WHERE sent_at < $2), 0)::text AS settled,
              coalesce(sum(delta) FILTER (WHERE sent_at >= $2 AND delta < 0), 0)::text AS recent_down,
              coalesce(sum(delta) FILTER (WHERE sent_at >= $2 AND delta > 0), 0)::text AS recent_up
         FROM stripe_pushes
        WHERE status = 'sent' AND period_start = ANY($1::timestamptz[]) GROUP BY 1, 2, 3`,
      [periodStarts.map((date) => date.toISOString()), settledBefore.toISOString()],
    )) as Array<{ customer_id: string; meter: string; period_start: Date; settled: string; recent_down: string; recent_up: string }>;
    return new Map(
      rows.map((row) => {
        const settled = Number(row.settled);
        const down = Number(row.recent_down);
        const up = Number(row.recent_up);
        return [`${row.customer_id}|${row.meter}|${new Date(row.period_start).getTime()}`, { latest: settled + down + up, settled, low: settled + down, high: settled + up }];
      }),
    );
  }

  async recent(limit = 100, status?: PushStatus): Promise<Push[]> {
    const rows = (await this.dataSource.query(`SELECT * FROM stripe_pushes WHERE $2::text IS NULL OR status = $2 ORDER BY id DESC LIMIT $1`, [limit, status ?? null])) as PushRow[];
    return rows.map(toPush);
  }
}

const samePeriod = (a: BillingPeriod, b: BillingPeriod) => a.start.getTime() === b.start.getTime() && a.end.getTime() === b.end.getTime();

/**
 * Whether Stripe bills a usage period: one of the current subscription's (stepped from its anchor), the one the last
 * subscription ended in, or an earlier subscription's. Without a subscription usage counts in UTC calendar months,
 * which are on no Stripe price — unless the subscription's own periods are calendar months.
 */
export function isStripePeriod(period: BillingPeriod, anchor: BillingPeriod | null, ended: BillingPeriod | null): boolean {
  if (ended && samePeriod(period, ended)) return true;
  if (anchor !== null && samePeriod(periodContaining(period.start, anchor), period)) return true;
  return !samePeriod(calendarMonth(period.start), period);
}
