/** Domain events of metering (`@nestjs/event-emitter`). */
export const USAGE_RECORDED = 'usage.recorded';
export const USAGE_THRESHOLD_CROSSED = 'usage.threshold_crossed';
export const QUOTA_EXCEEDED = 'quota.exceeded';

/** A counter moved: one per customer, meter and period touched by a committed batch. */
export interface UsageRecordedEvent {
  customerId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  delta: number;
  total: number;
}

/** Emitted once per customer, meter, period and threshold, however many requests cross it together. */
export interface UsageThresholdCrossedEvent {
  customerId: string;
  meter: string;
  periodStart: Date;
  periodEnd: Date;
  threshold: number;
  total: number;
  included: number;
  policy: 'block' | 'throttle' | 'overage';
}

/** The included quantity was used up (once per customer, meter and period). */
export type QuotaExceededEvent = UsageThresholdCrossedEvent;
