import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { QUOTA_EXCEEDED, USAGE_THRESHOLD_CROSSED, type QuotaExceededEvent, type UsageThresholdCrossedEvent } from 'tollgate';

const KEEP = 100;

/**
 * The host app reacting to Tollgate's domain events: here it logs them and keeps the latest for an ops page;
 * a real app might tell its sales team or open a ticket. Each event arrives once, however many requests crossed.
 */
@Injectable()
export class UsageAlertsListener {
  private readonly logger = new Logger('UsageAlerts');
  readonly recent: Array<{ kind: 'threshold' | 'quota_exceeded'; customerId: string; meter: string; threshold: number }> = [];

  @OnEvent(USAGE_THRESHOLD_CROSSED)
  onThreshold(event: UsageThresholdCrossedEvent): void {
    this.keep({ kind: 'threshold', customerId: event.customerId, meter: event.meter, threshold: event.threshold });
    this.logger.log(`${event.customerId} has used ${event.threshold}% of its included ${event.meter}`);
  }

  @OnEvent(QUOTA_EXCEEDED)
  onQuotaExceeded(event: QuotaExceededEvent): void {
    this.keep({ kind: 'quota_exceeded', customerId: event.customerId, meter: event.meter, threshold: event.threshold });
    this.logger.log(`${event.customerId} is past its included ${event.meter} (${event.policy})`);
  }

  private keep(alert: UsageAlertsListener['recent'][number]): void {
    this.recent.push(alert);
    if (this.recent.length > KEEP) this.recent.shift();
  }
}
