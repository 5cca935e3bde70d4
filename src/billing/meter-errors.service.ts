import { Inject, Injectable, Logger } from '@nestjs/common';
import { TollgateConfig } from '../config/tollgate-config.js';
import { type Push, PushOutbox } from './push-outbox.js';
import { InjectStripe, type StripeClient } from './stripe.client.js';
import { UsageSyncService } from './usage-sync.service.js';

/** The `data` of `v1.billing.meter.error_report_triggered` / `v1.billing.meter.no_meter_found` (stripe-node 23, V2 Events). */
export interface MeterErrorReport {
  developer_message_summary?: string;
  reason: {
    error_count: number;
    error_types: Array<{ code: string; error_count: number; sample_errors: Array<{ error_message: string; request: { identifier: string } }> }>;
  };
  validation_start: string;
  validation_end: string;
}

export const METER_ERROR_EVENT_TYPES = ['v1.billing.meter.error_report_triggered', 'v1.billing.meter.no_meter_found'] as const;

/** Codes where every event of the meter (or event name) in the window failed, not only the sampled ones. */
const WHOLE_WINDOW_CODES = new Set(['no_meter', 'archived_meter']);
/** Stripe's clock and ours differ a little: a window is widened by this much on each side. */
const CLOCK_SLACK_MS = 5 * 60_000;

export interface MeterErrorOutcome {
  failed: number;
  /** Errors Stripe counted that no push could be matched with (beyond its samples): reconciliation shows them. */
  unmatched: number;
}

/**
 * Stripe validates meter events after answering 200 ("Stripe processes meter events asynchronously") and reports the
 * invalid ones later, as thin events. Each report marks the pushes it names failed, with Stripe's reason, and tells
 * the operator (billing.drift_detected, reason push_failed); the sync re-plans their usage once the cause is fixed.
 * Stripe names at most a few samples per error type: when a whole meter (or event name) failed, the pushes of the
 * window are matched by meter instead; other unnamed errors are reported as a count.
 */
@Injectable()
export class MeterErrorsService {
  private readonly logger = new Logger('StripeMeterErrors');

  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(PushOutbox) private readonly outbox: PushOutbox,
    @Inject(UsageSyncService) private readonly sync: UsageSyncService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async apply(type: string, data: MeterErrorReport, meterId: string | null): Promise<MeterErrorOutcome> {
    const failures = data.reason.error_types.flatMap((errorType) =>
      errorType.sample_errors.map((sample) => ({ identifier: sample.request.identifier, code: errorType.code, message: sample.error_message })),
    );
    const failed: Push[] = await this.outbox.failByIdentifiers(failures);
    const window = { start: new Date(Date.parse(data.validation_start) - CLOCK_SLACK_MS), end: new Date(Date.parse(data.validation_end) + CLOCK_SLACK_MS) };
    let unmatched = 0;
    for (const errorType of data.reason.error_types) {
      const sampled = errorType.sample_errors.length;
      if (errorType.error_count <= sampled) continue;
      if (WHOLE_WINDOW_CODES.has(errorType.code) && !Number.isNaN(window.start.getTime()) && !Number.isNaN(window.end.getTime())) {
        // no_meter: the pushes sent while no active meter had their event name; archived_meter: those sent to this meter.
        const matchMeter = type === 'v1.billing.meter.no_meter_found' || errorType.code === 'no_meter' ? null : meterId;
        const more = await this.outbox.failByMeter(matchMeter, window, errorType.code, `${errorType.code}: ${errorType.sample_errors[0]?.error_message ?? data.developer_message_summary ?? ''}`);
        failed.push(...more);
        unmatched += Math.max(0, errorType.error_count - sampled - more.length);
      } else {
        unmatched += errorType.error_count - sampled;
      }
    }
    for (const push of failed) {
      this.logger.error(`Stripe refused push ${push.identifier} after accepting it: ${push.failureCode}: ${push.lastError}`);
      this.sync.alert(push, 'push_failed', `${push.failureCode}: ${push.lastError ?? ''}`);
    }
    if (unmatched > 0) {
      this.logger.error(`${type}: ${unmatched} more invalid meter events Stripe did not name (${data.developer_message_summary ?? ''}); reconciliation shows the difference`);
    }
    return { failed: failed.length, unmatched };
  }
}
