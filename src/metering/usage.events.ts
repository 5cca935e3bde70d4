import type { JsonQuantity } from '../common/index.js';

/**
 * Domain events of metering (`@nestjs/event-emitter`). Totals and deltas follow the JSON rule of every API: a
 * number while ≤ 2^53 − 1 (always, at the default TOLLGATE_MAX_COUNTER_TOTAL), else an exact decimal string.
 */
export const USAGE_RECORDED = 'usage.recorded';
export const USAGE_THRESHOLD_CROSSED = 'usage.threshold_crossed';
export const QUOTA_EXCEEDED = 'quota.exceeded';

/** A counter moved: one per customer, meter and period touched by a committed batch. */
export interface UsageRecordedEvent {
  customerId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  delta: JsonQuantity;
  total: JsonQuantity;
}

/** Emitted once per customer, meter, period and threshold, however many requests cross it together. */
export interface UsageThresholdCrossedEvent {
  customerId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  threshold: number;
  total: JsonQuantity;
  included: number;
  policy: 'block' | 'throttle' | 'overage';
}

/** The included quantity was used up (once per customer, meter and period). */
export type QuotaExceededEvent = UsageThresholdCrossedEvent;
