import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { TollgateConfig } from '../config/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { type Audience, type ChannelContext, InjectNotificationChannels, type NotificationChannel } from './notification-channel.js';
import { DeliveryFailure, WebhookSender, type WebhookUrlSetBy } from './webhook-sender.js';

interface ClaimedDelivery {
  id: string;
  channel: string;
  target: string;
  target_set_by: WebhookUrlSetBy;
  attempts: number;
  notification_id: string;
  customer_id: string;
  audience: Audience;
  kind: string;
  subject: string;
  message: string;
  data: Record<string, unknown>;
  created_at: Date;
}

const LEASE_SECONDS = 60;
const BATCH = 20;

/**
 * Delivers the outbox: claims due deliveries with a lease (FOR UPDATE SKIP LOCKED, so instances share the
 * work and a crashed one's claims expire), sends signed webhooks and emails, and on failure schedules a
 * retry with exponential backoff until the maximum, then dead-letters. Every attempt of one notification
 * carries the same id, so receivers can dedupe.
 */
@Injectable()
export class DeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Deliveries');
  private readonly channels: Map<string, NotificationChannel>;
  private readonly context: ChannelContext;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @InjectNotificationChannels() channels: NotificationChannel[],
    @Inject(WebhookSender) webhooks: WebhookSender,
  ) {
    this.channels = new Map(channels.map((channel) => [channel.kind, channel]));
    this.context = { post: (url, setBy, headers, body) => webhooks.send(url, setBy, headers, body) };
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), this.config.notificationPollMs);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    for (const channel of this.channels.values()) await channel.close?.();
  }

  /** One pass over due deliveries (also callable from tests). */
  tick(): Promise<void> {
    if (!this.running && !this.stopped) this.running = this.deliverDue().finally(() => (this.running = null));
    return this.running ?? Promise.resolve();
  }

  private async deliverDue(): Promise<void> {
    // Started during a database outage: nothing to claim until it is open (and no warning every poll).
    if (!this.dataSource.isInitialized) return;
    let claimed: ClaimedDelivery[];
    try {
      // TypeORM answers an UPDATE … RETURNING with [rows, affected].
      [claimed] = (await this.dataSource.query(
        `UPDATE outbox o SET locked_until = now() + make_interval(secs => $1), attempts = o.attempts + 1
           FROM notifications n
          WHERE n.id = o.notification_id
            AND o.id IN (SELECT id FROM outbox
                          WHERE status = 'pending' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
                          ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        RETURNING o.id, o.channel, o.target, o.target_set_by, o.attempts, n.id AS notification_id, n.customer_id, n.audience, n.kind, n.subject, n.message, n.data, n.created_at`,
        [LEASE_SECONDS, BATCH],
      )) as [ClaimedDelivery[], number];
    } catch (error) {
      this.logger.warn(`could not claim deliveries: ${(error as Error).message}`);
      return;
    }
    await Promise.all(claimed.map((delivery) => this.deliver(delivery)));
  }

  private async deliver(delivery: ClaimedDelivery): Promise<void> {
    try {
      const channel = this.channels.get(delivery.channel);
      // A channel removed from the app's configuration: its deliveries fail (and dead-letter) instead of vanishing.
      if (!channel) throw new DeliveryFailure('delivery failed', `no notification channel "${delivery.channel}" is configured`);
      await channel.deliver(
        {
          notificationId: delivery.notification_id,
          attempt: delivery.attempts,
          target: delivery.target,
          targetSetBy: delivery.target_set_by,
          customerId: delivery.customer_id,
          audience: delivery.audience,
          kind: delivery.kind,
          subject: delivery.subject,
          message: delivery.message,
          data: delivery.data,
          createdAt: new Date(delivery.created_at),
        },
        this.context,
      );
      await this.dataSource.query(
        `UPDATE outbox SET status = 'delivered', delivered_at = now(), locked_until = NULL, last_error = NULL, last_error_detail = NULL WHERE id = $1`,
        [delivery.id],
      );
    } catch (error) {
      // The customer sees a generic reason; the raw error (addresses, error codes) is for the operator only.
      const reason = error instanceof DeliveryFailure ? error.reason : delivery.channel === 'email' ? 'email could not be sent' : 'delivery failed';
      const detail = (error instanceof Error ? error.message : String(error)).slice(0, 500);
      const dead = delivery.attempts >= this.config.notificationMaxAttempts;
      const delayMs = this.config.notificationRetryBaseMs * 2 ** (delivery.attempts - 1);
      await this.dataSource.query(
        `UPDATE outbox SET status = $2, last_error = $3, last_error_detail = $5, locked_until = NULL,
                next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1`,
        [delivery.id, dead ? 'dead' : 'pending', reason, delayMs / 1000, detail],
      );
      if (reason.startsWith('destination refused')) {
        this.logger.warn(`${delivery.channel} delivery of ${delivery.notification_id} for customer ${delivery.customer_id} refused: ${detail}`);
      }
      if (dead) this.logger.warn(`${delivery.channel} delivery of ${delivery.notification_id} dead-lettered after ${delivery.attempts} attempts: ${detail}`);
    }
  }
}
