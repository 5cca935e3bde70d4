import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { TollgateConfig } from '../config/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { BillingHistoryService } from './billing-history.service.js';
import { BILLING_DRIFT_DETECTED, BILLING_USAGE_PUSHED, type DriftDetectedEvent, type UsagePushedEvent } from './billing.events.js';
import { type PlannedPush, type Push, PushOutbox, pushIdentifier, type UnpushedCounter } from './push-outbox.js';
import { InjectStripe, isStripeError, type StripeClient, stripeNames } from './stripe.client.js';
import { StripeRateLimiter } from './stripe-rate.limiter.js';
import { pushTimestamp, stripeWindow } from './stripe-window.js';

export interface SyncReport {
  ran: boolean;
  dryRun: boolean;
  planned: number;
  sent: number;
  failed: number;
  stillPending: number;
  /** Counters waiting for the cause of a failed push to be fixed (GET /v1/billing/pushes?status=failed). */
  blocked?: number;
  reason?: string;
}

/** A sync run as recorded in `sync_runs`. */
export interface SyncRun {
  id: string;
  startedAt: string;
  finishedAt: string;
  dryRun: boolean;
  planned: number;
  sent: number;
  failed: number;
  stillPending: number;
  blocked: number;
  /** Why the run failed as a whole (null when it finished). */
  error: string | null;
}

const MAX_ATTEMPTS_PER_RUN = 6;
const CONCURRENT_SERIES = 16;
/** Stripe dedupes identifiers for at least 24 h; past 23 h a pending push is checked before it is re-sent. */
const DEDUPE_TRUST_MS = 23 * 3600_000;
const STRIPE_MAX_AGE_MS = 35 * 86_400_000;

/** A miss in the meter cache refetches Stripe's meters at most this often. */
const METER_REFRESH_MS = 10_000;

type Outcome = 'sent' | 'failed' | 'pending' | 'halt';

/** Failures whose cause is the customer's Stripe id: fixed once the customer has another one. */
const CUSTOMER_FAILURES = new Set(['meter_event_customer_not_found', 'meter_event_no_customer_defined']);
/** Failures whose cause is the meter: fixed once an active meter has the event name (again). */
const METER_FAILURES = new Set(['no_meter', 'archived_meter']);

/**
 * Pushes usage to Stripe Billing Meters. For every counter whose total moved since the last push, an
 * outbox row with a deterministic identifier is written FIRST, then sent as a meter event with the same
 * string as Idempotency-Key. A crash or a retry re-sends the same identifier (Stripe dedupes it); a push
 * pending for more than 23 h is checked against Stripe's meter event summaries before it is re-sent.
 * One instance runs it at a time (Postgres advisory lock); calls are paced below Stripe's limits, one in
 * flight per customer and meter, 429/5xx retried with backoff.
 */
@Injectable()
export class UsageSyncService {
  private readonly logger = new Logger('UsageSync');
  private readonly limiter: StripeRateLimiter;
  private localRun: Promise<SyncReport> | null = null;
  /** The run callers get while `localRun` is in flight: it starts when that one ends. */
  private nextRun: Promise<SyncReport> | null = null;
  private meterIds: Map<string, string> | null = null;
  private metersFetchedAt = 0;

  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(PushOutbox) private readonly outbox: PushOutbox,
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
    @Inject(BillingHistoryService) private readonly history: BillingHistoryService,
  ) {
    const live = /^(sk|rk)_live_/.test(config.stripe.secretKey ?? '');
    this.limiter = new StripeRateLimiter(config.stripeMaxRequestsPerSecond ?? (live ? 900 : 20));
  }

  /**
   * Runs a sync that starts after this call (unless another instance holds the lock: `ran: false`). A run already in
   * flight here may have planned before the caller's usage was recorded, so the caller gets the next run instead,
   * started once that one ends; every call made meanwhile shares that next run.
   */
  sync(): Promise<SyncReport> {
    if (this.nextRun) return this.nextRun;
    if (!this.localRun) return this.startRun();
    const next = this.localRun
      .catch(() => undefined)
      .then(() => {
        this.nextRun = null;
        return this.startRun();
      });
    this.nextRun = next;
    return next;
  }

  private startRun(): Promise<SyncReport> {
    const startedAt = new Date();
    const run = this.runLocked()
      .then(
        async (report) => {
          if (report.ran) await this.recordRun(startedAt, report, null);
          return report;
        },
        async (error: unknown) => {
          await this.recordRun(startedAt, null, error instanceof Error ? error.message : String(error));
          throw error;
        },
      )
      .finally(() => {
        if (this.localRun === run) this.localRun = null;
      });
    this.localRun = run;
    return run;
  }

  /** Keeps the run's report for the operator (a failure to record it never fails the run). */
  private async recordRun(startedAt: Date, report: SyncReport | null, error: string | null): Promise<void> {
    await this.dataSource
      .query(`INSERT INTO sync_runs (started_at, dry_run, planned, sent, failed, still_pending, blocked, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
        startedAt.toISOString(),
        report?.dryRun ?? !this.stripe,
        report?.planned ?? 0,
        report?.sent ?? 0,
        report?.failed ?? 0,
        report?.stillPending ?? 0,
        report?.blocked ?? 0,
        error?.slice(0, 500) ?? null,
      ])
      .catch((failure: Error) => this.logger.warn(`could not record the sync run: ${failure.message}`));
  }

  /** The latest runs, newest first. */
  async recentRuns(limit = 50): Promise<SyncRun[]> {
    const rows = (await this.dataSource.query(`SELECT * FROM sync_runs ORDER BY id DESC LIMIT $1`, [Math.min(limit, 200)])) as Array<{
      id: string;
      started_at: Date | string;
      finished_at: Date | string;
      dry_run: boolean;
      planned: number;
      sent: number;
      failed: number;
      still_pending: number;
      blocked: number;
      error: string | null;
    }>;
    return rows.map((row) => ({
      id: String(row.id),
      startedAt: new Date(row.started_at).toISOString(),
      finishedAt: new Date(row.finished_at).toISOString(),
      dryRun: row.dry_run,
      planned: row.planned,
      sent: row.sent,
      failed: row.failed,
      stillPending: row.still_pending,
      blocked: row.blocked,
      error: row.error,
    }));
  }

  private async runLocked(): Promise<SyncReport> {
    if (this.config.embedded) return this.run(); // one process owns an embedded database
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      // One lock per schema: deployments (or test files) sharing a Postgres database do not block each other.
      const [{ locked }] = (await runner.query(`SELECT pg_try_advisory_lock(hashtext('tollgate:usage-sync:' || current_schema())) AS locked`)) as Array<{
        locked: boolean;
      }>;
      if (!locked) return { ran: false, dryRun: !this.stripe, planned: 0, sent: 0, failed: 0, stillPending: 0, reason: 'another instance is syncing' };
      try {
        return await this.run();
      } finally {
        await runner.query(`SELECT pg_advisory_unlock(hashtext('tollgate:usage-sync:' || current_schema()))`);
      }
    } finally {
      await runner.release();
    }
  }

  private async run(): Promise<SyncReport> {
    const dryRun = !this.stripe;
    this.forgetMeters(); // a meter archived or recreated in Stripe since the last run is seen now
    const { planned, blocked } = await this.plan(dryRun);
    if (dryRun) {
      if (planned > 0) this.logger.log(`dry run: recorded ${planned} pushes Stripe would receive`);
      return { ran: true, dryRun, planned, sent: 0, failed: 0, stillPending: 0 };
    }
    const pending = await this.outbox.pending();
    // One series per customer and meter, in order; several series at once.
    const series = new Map<string, Push[]>();
    for (const push of pending) {
      const key = `${push.customerId}|${push.meter}`;
      series.set(key, [...(series.get(key) ?? []), push]);
    }
    const queue = [...series.values()];
    const counts = { sent: 0, failed: 0, pending: 0, halt: 0 };
    const worker = async () => {
      // A refused key (401/403) fails every call alike: stop the run, keep everything pending for the next one.
      for (let next = queue.shift(); next && counts.halt === 0; next = queue.shift()) {
        for (const push of next) {
          const outcome = await this.send(push);
          counts[outcome] += 1;
          if (outcome !== 'sent') break; // later pushes of this series wait for this one
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT_SERIES }, worker));
    const stillPending = (await this.outbox.pending()).length;
    if (planned + pending.length > 0) {
      this.logger.log(`sync: ${planned} planned, ${counts.sent} sent, ${counts.failed} failed, ${stillPending} pending, ${blocked} blocked`);
    }
    if (counts.halt > 0) this.logger.error('sync stopped: Stripe refuses the API key (401/403); usage stays pending until the key is fixed');
    return { ran: true, dryRun, planned, sent: counts.sent, failed: counts.failed, stillPending, blocked, ...(counts.halt > 0 && { reason: 'Stripe refused the API key' }) };
  }

  /**
   * Writes an outbox row for every counter that moved since its last push. A counter with a failed push waits until
   * the cause is fixed (the customer got another Stripe id, an active meter took the event name, the operator asked
   * for a retry), then one push re-sends all its unsent usage under a fresh identifier. Usage Stripe can no longer
   * take (older than its 35 days) is recorded as a failed push and reported to the operator, once, never re-planned.
   */
  private async plan(dryRun: boolean): Promise<{ planned: number; blocked: number }> {
    const now = Date.now();
    const pushes: PlannedPush[] = [];
    const alerts: Array<{ push: PlannedPush; reason: NonNullable<DriftDetectedEvent['reason']>; detail: string }> = [];
    let blocked = 0;
    const counters = await this.outbox.unpushed(dryRun);
    const tierChanges = await this.history.latestTierChanges([...new Set(counters.map((counter) => counter.customerId))]);
    for (const counter of counters) {
      // Usage from outside any Stripe billing period (e.g. the free-tier calendar month before subscribing) is not billed.
      if (!dryRun && !counter.stripePeriod) continue;
      const eventName = stripeNames.meterEvent(counter.meter);
      if (counter.failed.length > 0 && !(await this.causeFixed(counter, eventName))) {
        blocked += 1;
        continue;
      }
      // Inside the period (Stripe files the event there), never in the future, and within Stripe's 35 days.
      // After a tier change in the period, on or after it: the old price's segment is closed (see pushTimestamp).
      const changedAt = tierChanges.get(counter.customerId);
      const segmentStart = changedAt && changedAt >= counter.periodStart && changedAt < counter.periodEnd ? changedAt : null;
      const timestamp = pushTimestamp({ start: counter.periodStart, end: counter.periodEnd }, now, segmentStart);
      const push: PlannedPush = {
        // Dry runs get their own identifiers: once Stripe is on, the real push of the same total must not collide
        // with the dry-run row (the outbox keeps the first of an identifier) and be skipped forever.
        identifier: `${dryRun ? 'dry_' : ''}${pushIdentifier(counter.customerId, counter.meter, counter.periodStart, counter.total, counter.failures)}`,
        customerId: counter.customerId,
        stripeCustomerId: counter.stripeCustomerId,
        meter: counter.meter,
        eventName,
        periodStart: counter.periodStart,
        periodEnd: counter.periodEnd,
        fromTotal: counter.pushed,
        toTotal: counter.total,
        delta: counter.total - counter.pushed,
        eventTimestamp: timestamp,
        status: dryRun ? 'dry_run' : 'pending',
        ...(counter.failed.length > 0 && { replaces: counter.failed.map((failed) => failed.id) }),
      };
      if (!dryRun && now - timestamp.getTime() > STRIPE_MAX_AGE_MS - 3600_000) {
        const detail = `usage of the period from ${counter.periodStart.toISOString()} is older than Stripe accepts (35 days): it cannot be billed through the meter`;
        this.logger.error(`${counter.customerId}/${counter.meter}: ${detail}`);
        Object.assign(push, { status: 'failed', failureCode: 'too_old', lastError: detail });
        alerts.push({ push, reason: 'too_old_for_stripe', detail });
      }
      pushes.push(push);
    }
    for (let offset = 0; offset < pushes.length; offset += 1000) await this.outbox.plan(pushes.slice(offset, offset + 1000));
    for (const { push, reason, detail } of alerts) this.alert(push, reason, detail);
    return { planned: pushes.length, blocked };
  }

  /** Whether what made a counter's pushes fail is gone (see plan()). */
  private async causeFixed(counter: UnpushedCounter, eventName: string): Promise<boolean> {
    for (const failed of counter.failed) {
      const code = failed.failureCode ?? '';
      if (code === 'retry_requested') continue;
      if (CUSTOMER_FAILURES.has(code) && counter.stripeCustomerId !== null && counter.stripeCustomerId !== failed.stripeCustomerId) continue;
      // no_meter / archived_meter mean no meter was active when Stripe processed it: any active meter now fixes it
      // (a new one, or the old one reactivated).
      if (METER_FAILURES.has(code) && this.stripe) {
        // '' no active meter, null Stripe could not be asked (an outage must not fail the sync): both leave it blocked.
        if (await this.meterIdOrNull(this.stripe, eventName)) continue;
      }
      return false;
    }
    return true;
  }

  /** The operator hears about usage Stripe does not have (billing.drift_detected, with the reason). */
  alert(push: Pick<Push, 'customerId' | 'meter' | 'periodStart' | 'toTotal' | 'delta' | 'identifier'>, reason: NonNullable<DriftDetectedEvent['reason']>, detail: string): void {
    this.events.emit(BILLING_DRIFT_DETECTED, {
      customerId: push.customerId,
      meter: push.meter,
      periodStart: push.periodStart,
      pushedTotal: push.toTotal,
      stripeTotal: push.toTotal - push.delta,
      drift: push.delta,
      reason,
      identifier: push.identifier,
      detail,
    } satisfies DriftDetectedEvent);
  }

  private async send(push: Push): Promise<Outcome> {
    const stripe = this.stripe!;
    if (Date.now() - push.createdAt.getTime() > DEDUPE_TRUST_MS) {
      try {
        if (await this.alreadyInStripe(stripe, push)) {
          await this.outbox.markSent(push.id);
          return 'sent';
        }
      } catch (error) {
        // Stripe cannot be asked now: the push waits (a blind re-send could count it twice).
        await this.outbox.recordAttempt(push.id, (error as Error).message);
        return this.classify(error) === 'halt' ? 'halt' : 'pending';
      }
    }
    for (let attempt = 1; attempt <= MAX_ATTEMPTS_PER_RUN; attempt++) {
      await this.limiter.acquire();
      try {
        await stripe.billing.meterEvents.create(
          {
            event_name: push.eventName,
            payload: { stripe_customer_id: push.stripeCustomerId ?? '', value: String(push.delta) },
            identifier: push.identifier,
            timestamp: Math.floor(push.eventTimestamp.getTime() / 1000),
          },
          { idempotencyKey: push.identifier },
        );
        return this.confirm(push);
      } catch (error) {
        const verdict = this.classify(error);
        await this.outbox.recordAttempt(push.id, (error as Error).message);
        if (verdict === 'applied') return this.confirm(push);
        if (verdict === 'permanent') {
          const message = (error as Error).message;
          this.logger.error(`push ${push.identifier} refused by Stripe: ${message}`);
          await this.outbox.markFailed(push.id, message, (isStripeError(error) && error.code) || 'invalid_request', await this.meterIdOrNull(stripe, push.eventName));
          this.alert(push, 'push_failed', message);
          return 'failed';
        }
        if (verdict === 'halt') return 'halt';
        if (verdict === 'later') return 'pending';
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, this.config.stripeRetryBaseMs * 2 ** attempt) * (0.5 + Math.random())));
      }
    }
    return 'pending';
  }

  private async confirm(push: Push): Promise<Outcome> {
    // Failed meanwhile by a meter error report: it stays failed (and is re-planned), never counted as billed.
    if (!(await this.outbox.markSent(push.id, await this.meterIdOrNull(this.stripe!, push.eventName)))) return 'failed';
    if (Date.now() > push.periodEnd.getTime() + this.config.stripeFinalizationGraceMs) {
      // Stripe took it (its summaries show it) but the period's invoice was already final: it is on no invoice.
      const detail = `usage reached Stripe after the invoice of the period from ${push.periodStart.toISOString()} was finalized (STRIPE_FINALIZATION_GRACE_MS): it is on no invoice`;
      this.logger.error(`${push.customerId}/${push.meter}: ${detail}`);
      this.alert(push, 'after_invoice_finalized', detail);
    }
    this.events.emit(BILLING_USAGE_PUSHED, {
      customerId: push.customerId,
      meter: push.meter,
      identifier: push.identifier,
      delta: push.delta,
      toTotal: push.toTotal,
      periodStart: push.periodStart,
    } satisfies UsagePushedEvent);
    return 'sent';
  }

  /**
   * applied: Stripe already has this identifier (a duplicate: 400 "An event already exists with identifier …").
   * retry: rate limits, 5xx, lost connections, lock timeouts — and anything Stripe marks `Stripe-Should-Retry: true`.
   * later: retryable, but Stripe says `Stripe-Should-Retry: false` now: the push stays pending for the next run.
   * halt: the key is refused (401/403): nothing will pass until it is fixed; everything stays pending.
   * permanent: Stripe refused the request itself; the push fails, visibly, and the operator is told.
   */
  private classify(error: unknown): 'applied' | 'retry' | 'later' | 'halt' | 'permanent' {
    if (!isStripeError(error)) return 'retry';
    if (error.code === 'resource_already_exists' || (/identifier/i.test(error.message) && /already exists/i.test(error.message))) return 'applied';
    const status = error.statusCode ?? 0;
    if (status === 401 || status === 403 || error.type === 'StripeAuthenticationError' || error.type === 'StripePermissionError') return 'halt';
    const shouldRetry = stripeShouldRetry(error);
    const transient =
      error.type === 'StripeConnectionError' || error.type === 'StripeAPIError' || error.type === 'StripeRateLimitError' || error.type === 'StripeIdempotencyError' ||
      status >= 500 || status === 429 || status === 409 || status === 0 || error.code === 'lock_timeout';
    if (shouldRetry === true) return 'retry';
    if (transient) return shouldRetry === false ? 'later' : 'retry';
    return 'permanent';
  }

  /** Stripe's total for the push's period reaching what it would be with this push means it was applied. */
  private async alreadyInStripe(stripe: Stripe, push: Push): Promise<boolean> {
    if (!push.stripeCustomerId) return false;
    // What Stripe holds without this push: the deltas of the counter's sent pushes (failed ones never counted).
    const before = await this.outbox.sentTotal(push.customerId, push.meter, push.periodStart);
    const total = await this.stripeTotal(stripe, push.eventName, push.stripeCustomerId, { start: push.periodStart, end: push.periodEnd });
    return push.delta >= 0 ? total >= before + push.delta : total <= before + push.delta;
  }

  /** Stripe's meter total for a customer over a billing period (read over its minute-aligned window). */
  async stripeTotal(stripe: Stripe, eventName: string, stripeCustomerId: string, period: { start: Date; end: Date }): Promise<number> {
    const meterId = await this.meterId(stripe, eventName);
    if (!meterId) return 0;
    const window = stripeWindow(period);
    const summaries = await stripe.billing.meters.listEventSummaries(meterId, {
      customer: stripeCustomerId,
      start_time: window.start.getTime() / 1000,
      end_time: window.end.getTime() / 1000,
    });
    return summaries.data.reduce((sum, summary) => sum + summary.aggregated_value, 0);
  }

  /**
   * The id of the *active* meter with this event name (an archived one keeps its event name, and a recreated meter
   * has a new id). Stripe's meters are read page by page; the cache is dropped at each run and refreshed on a miss.
   */
  async meterId(stripe: Stripe, eventName: string): Promise<string | null> {
    const stale = Date.now() - this.metersFetchedAt > METER_REFRESH_MS;
    if (!this.meterIds || (!this.meterIds.has(eventName) && stale)) {
      const meters = new Map<string, string>();
      for await (const meter of stripe.billing.meters.list({ status: 'active', limit: 100 })) meters.set(meter.event_name, meter.id);
      this.meterIds = meters;
      this.metersFetchedAt = Date.now();
    }
    return this.meterIds.get(eventName) ?? null;
  }

  /** Drops the meter cache: the next lookup reads Stripe's active meters again. */
  forgetMeters(): void {
    this.meterIds = null;
    this.metersFetchedAt = 0;
  }

  /**
   * The meter id for the record: '' when no active meter had the event name, null when the lookup failed (a failed
   * lookup never fails the push it is recorded with, and never counts as "no meter").
   */
  private async meterIdOrNull(stripe: Stripe, eventName: string): Promise<string | null> {
    try {
      return (await this.meterId(stripe, eventName)) ?? '';
    } catch {
      return null;
    }
  }
}

/** Stripe-Should-Retry, when Stripe sent it: "true" retry, "false" don't (stripe-node keeps the response headers). */
function stripeShouldRetry(error: { headers?: Record<string, string> }): boolean | null {
  const value = error.headers?.['stripe-should-retry'] ?? error.headers?.['Stripe-Should-Retry'];
  return value === 'true' ? true : value === 'false' ? false : null;
}
