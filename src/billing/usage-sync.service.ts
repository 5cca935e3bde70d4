import { Inject, Injectable, Logger } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { TollgateConfig } from '../config/tollgate-config.js';
import { InjectTollgateDataSource } from '../database/tollgate-connection.js';
import { BILLING_USAGE_PUSHED, type UsagePushedEvent } from './billing.events.js';
import { type Push, PushOutbox, pushIdentifier } from './push-outbox.js';
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
  reason?: string;
}

const MAX_ATTEMPTS_PER_RUN = 6;
const CONCURRENT_SERIES = 16;
/** Stripe dedupes identifiers for at least 24 h; past 23 h a pending push is checked before it is re-sent. */
const DEDUPE_TRUST_MS = 23 * 3600_000;
const STRIPE_MAX_AGE_MS = 35 * 86_400_000;

type Outcome = 'sent' | 'failed' | 'pending';

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
  private meterIds = new Map<string, string>();

  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(PushOutbox) private readonly outbox: PushOutbox,
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
  ) {
    const live = /^(sk|rk)_live_/.test(config.stripe.secretKey ?? '');
    this.limiter = new StripeRateLimiter(config.stripeMaxRequestsPerSecond ?? (live ? 900 : 20));
  }

  /** Runs one sync unless one is already running here or on another instance. */
  sync(): Promise<SyncReport> {
    if (!this.localRun) this.localRun = this.runLocked().finally(() => (this.localRun = null));
    return this.localRun;
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
    const planned = await this.plan(dryRun);
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
    const counts = { sent: 0, failed: 0, pending: 0 };
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
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
      this.logger.log(`sync: ${planned} planned, ${counts.sent} sent, ${counts.failed} failed, ${stillPending} pending`);
    }
    return { ran: true, dryRun, planned, sent: counts.sent, failed: counts.failed, stillPending };
  }

  /** Writes an outbox row for every counter that moved since its last push. */
  private async plan(dryRun: boolean): Promise<number> {
    const now = Date.now();
    const pushes: Parameters<PushOutbox['plan']>[0] = [];
    for (const counter of await this.outbox.unpushed(dryRun)) {
      // Inside the period (Stripe files the event there), never in the future, and within Stripe's 35 days.
      const timestamp = pushTimestamp({ start: counter.periodStart, end: counter.periodEnd }, now);
      if (now - timestamp.getTime() > STRIPE_MAX_AGE_MS - 3600_000 && !dryRun) {
        this.logger.error(`usage of ${counter.customerId}/${counter.meter} for the period from ${counter.periodStart.toISOString()} is too old for Stripe`);
        continue;
      }
      pushes.push({
        identifier: pushIdentifier(counter.customerId, counter.meter, counter.periodStart, counter.total),
        customerId: counter.customerId,
        stripeCustomerId: counter.stripeCustomerId,
        meter: counter.meter,
        eventName: stripeNames.meterEvent(counter.meter),
        periodStart: counter.periodStart,
        periodEnd: counter.periodEnd,
        fromTotal: counter.pushed,
        toTotal: counter.total,
        delta: counter.total - counter.pushed,
        eventTimestamp: timestamp,
        status: dryRun ? 'dry_run' : 'pending',
      });
    }
    for (let offset = 0; offset < pushes.length; offset += 1000) await this.outbox.plan(pushes.slice(offset, offset + 1000));
    return pushes.length;
  }

  private async send(push: Push): Promise<Outcome> {
    const stripe = this.stripe!;
    if (Date.now() - push.createdAt.getTime() > DEDUPE_TRUST_MS && (await this.alreadyInStripe(stripe, push))) {
      await this.outbox.markSent(push.id);
      return 'sent';
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
          this.logger.error(`push ${push.identifier} refused by Stripe: ${(error as Error).message}`);
          await this.outbox.markFailed(push.id, (error as Error).message);
          return 'failed';
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, this.config.stripeRetryBaseMs * 2 ** attempt) * (0.5 + Math.random())));
      }
    }
    return 'pending';
  }

  private async confirm(push: Push): Promise<Outcome> {
    await this.outbox.markSent(push.id);
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

  /** applied: Stripe already has this identifier. retry: rate limits, 5xx, lost connections. */
  private classify(error: unknown): 'applied' | 'retry' | 'permanent' {
    if (!isStripeError(error)) return 'retry';
    if (error.code === 'resource_already_exists' || /identifier/i.test(error.message) && /exist/i.test(error.message)) return 'applied';
    if (error.type === 'StripeConnectionError' || error.type === 'StripeAPIError' || error.type === 'StripeRateLimitError') return 'retry';
    if ((error.statusCode ?? 0) >= 500 || error.statusCode === 429 || error.statusCode === 409) return 'retry';
    if (error.type === 'StripeIdempotencyError') return 'retry';
    return 'permanent';
  }

  /** Stripe's total for the push's period reaching its to_total means it was applied. */
  private async alreadyInStripe(stripe: Stripe, push: Push): Promise<boolean> {
    if (!push.stripeCustomerId) return false;
    return (await this.stripeTotal(stripe, push.eventName, push.stripeCustomerId, { start: push.periodStart, end: push.periodEnd })) >= push.toTotal;
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

  async meterId(stripe: Stripe, eventName: string): Promise<string | null> {
    if (!this.meterIds.has(eventName)) {
      const meters = await stripe.billing.meters.list({ limit: 100 });
      this.meterIds = new Map(meters.data.map((meter) => [meter.event_name, meter.id]));
    }
    return this.meterIds.get(eventName) ?? null;
  }
}
