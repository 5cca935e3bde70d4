import { Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { DataSource } from 'typeorm';
import { API_KEY_REVOKED, API_KEY_ROTATED, type ApiKeyRevokedEvent, type ApiKeyRotatedEvent } from '../api-keys/index.js';
import { BILLING_DRIFT_DETECTED, type DriftDetectedEvent } from '../billing/index.js';
import { newId } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { TIER_CHANGED, type TierChangedEvent } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { USAGE_THRESHOLD_CROSSED, type UsageThresholdCrossedEvent } from '../metering/index.js';
import { TiersService } from '../tiers/index.js';
import { type Audience, InjectNotificationChannels, type NotificationChannel } from './notification-channel.js';
import { type NotificationDraft, notificationText } from './notification-text.js';
import { WebhookSecrets } from './webhook-secrets.js';

export type { Audience };

export interface NotificationView {
  id: string;
  audience: Audience;
  kind: string;
  subject: string;
  message: string;
  data: Record<string, unknown>;
  createdAt: string;
  /** `lastError` is a generic reason (the customer sees it); `lastErrorDetail`, the raw error, is in the operator's view only. */
  deliveries: Array<{ channel: string; status: string; attempts: number; lastError: string | null; lastErrorDetail?: string | null; deliveredAt: string | null }>;
}

/**
 * Turns domain events into what a customer is told, exactly once: the notification and its deliveries
 * (webhook if the customer has a URL, email if it has an address) are written in ONE statement guarded by
 * the notification's unique key, so concurrent or repeated events make a single notification.
 */
@Injectable()
export class NotificationsService {
  private readonly logger = new Logger('Notifications');

  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(WebhookSecrets) private readonly secrets: WebhookSecrets,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @InjectNotificationChannels() private readonly channels: NotificationChannel[],
  ) {}

  @OnEvent(USAGE_THRESHOLD_CROSSED, { async: true, promisify: true })
  onThreshold(event: UsageThresholdCrossedEvent): Promise<string | null> {
    return this.notify(event.customerId, notificationText.threshold(event, this.tiers.catalog.upgradeUrl));
  }

  @OnEvent(TIER_CHANGED, { async: true, promisify: true })
  onTierChanged(event: TierChangedEvent): Promise<string | null> {
    return this.notify(event.customerId, notificationText.tierChanged(event));
  }

  @OnEvent(API_KEY_ROTATED, { async: true, promisify: true })
  onKeyRotated(event: ApiKeyRotatedEvent): Promise<string | null> {
    return this.notify(event.customerId, notificationText.keyRotated(event));
  }

  @OnEvent(API_KEY_REVOKED, { async: true, promisify: true })
  onKeyRevoked(event: ApiKeyRevokedEvent): Promise<string | null> {
    return this.notify(event.customerId, notificationText.keyRevoked(event));
  }

  @OnEvent(BILLING_DRIFT_DETECTED, { async: true, promisify: true })
  onDriftDetected(event: DriftDetectedEvent): Promise<string | null> {
    const { email, webhookUrl } = this.config.operator;
    if (!email && !webhookUrl) this.logger.warn(`billing drift for ${event.customerId}/${event.meter}: ${event.drift} (no OPERATOR_EMAIL or OPERATOR_WEBHOOK_URL to tell)`);
    return this.notify(event.customerId, notificationText.drift(event), 'operator');
  }

  /** Records the notification and its deliveries once; returns its id, or null if it already existed. */
  async notify(customerId: string, draft: NotificationDraft, audience: Audience = 'customer'): Promise<string | null> {
    try {
      const customer = await this.customers.find(customerId);
      if (!customer) return null;
      // Each channel says where this goes (webhook: the customer's URL, email: its address, a host's own channels theirs).
      const recipient = { audience, kind: draft.kind, customer };
      const targets = (await Promise.all(this.channels.map(async (channel) => ({ kind: channel.kind, to: await channel.target(recipient) })))).flatMap(({ kind, to }) =>
        to === null ? [] : [{ kind, ...(typeof to === 'string' ? { target: to, setBy: 'operator' } : to) }],
      );
      const rows = (await this.dataSource.query(
        `WITH created AS (
           INSERT INTO notifications (id, customer_id, kind, dedupe_key, subject, message, data, audience)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT ON CONSTRAINT notifications_once DO NOTHING
           RETURNING id
         ), deliveries AS (
           INSERT INTO outbox (notification_id, channel, target, target_set_by, status)
           SELECT created.id, d.channel, d.target, d.set_by, 'pending'
             FROM created, jsonb_to_recordset($9::jsonb) AS d(channel text, target text, set_by text)
           RETURNING id
         )
         SELECT id FROM created`,
        [
          newId('ntf'),
          customerId,
          draft.kind,
          draft.dedupeKey,
          draft.subject,
          draft.message,
          JSON.stringify(draft.data),
          audience,
          JSON.stringify(targets.map((target) => ({ channel: target.kind, target: target.target, set_by: target.setBy }))),
        ],
      )) as Array<{ id: string }>;
      return rows[0]?.id ?? null;
    } catch (error) {
      // Listeners run detached from the request: report, never crash the process.
      this.logger.error(`could not record ${draft.kind} for ${customerId}: ${(error as Error).message}`);
      return null;
    }
  }

  /** Newest first. The customer's own views pass `customerOnly`: operator alerts about it stay internal. */
  async list(customerId: string, options: { limit?: number; customerOnly?: boolean } = {}): Promise<NotificationView[]> {
    const { limit = 50, customerOnly = false } = options;
    await this.customers.get(customerId);
    const rows = (await this.dataSource.query(
      `SELECT n.id, n.audience, n.kind, n.subject, n.message, n.data, n.created_at,
              coalesce(jsonb_agg(jsonb_build_object('channel', o.channel, 'status', o.status, 'attempts', o.attempts,
                'lastError', o.last_error, 'deliveredAt', o.delivered_at)
                || CASE WHEN $3::boolean THEN '{}'::jsonb ELSE jsonb_build_object('lastErrorDetail', o.last_error_detail) END
                ORDER BY o.channel) FILTER (WHERE o.id IS NOT NULL), '[]') AS deliveries
         FROM notifications n LEFT JOIN outbox o ON o.notification_id = n.id
        WHERE n.customer_id = $1 AND (NOT $3::boolean OR n.audience = 'customer')
        GROUP BY n.id ORDER BY n.created_at DESC, n.id LIMIT $2`,
      [customerId, limit, customerOnly],
    )) as Array<{ id: string; audience: Audience; kind: string; subject: string; message: string; data: Record<string, unknown>; created_at: Date; deliveries: NotificationView['deliveries'] | string }>;
    return rows.map((row) => ({
      id: row.id,
      audience: row.audience,
      kind: row.kind,
      subject: row.subject,
      message: row.message,
      data: row.data,
      createdAt: new Date(row.created_at).toISOString(),
      deliveries: typeof row.deliveries === 'string' ? JSON.parse(row.deliveries) : row.deliveries,
    }));
  }

  /** Deliveries that gave up (dead letters), newest first, across customers: what the operator console flags. */
  async deadLetters(limit = 50): Promise<Array<{ customerId: string; notificationId: string; kind: string; channel: string; attempts: number; lastError: string | null }>> {
    const rows = (await this.dataSource.query(
      `SELECT n.customer_id, n.id, n.kind, o.channel, o.attempts, o.last_error
         FROM outbox o JOIN notifications n ON n.id = o.notification_id
        WHERE o.status = 'dead' ORDER BY o.id DESC LIMIT $1`,
      [Math.min(limit, 200)],
    )) as Array<{ customer_id: string; id: string; kind: string; channel: string; attempts: number; last_error: string | null }>;
    return rows.map((row) => ({ customerId: row.customer_id, notificationId: row.id, kind: row.kind, channel: row.channel, attempts: row.attempts, lastError: row.last_error }));
  }

  /** Sends a dead-lettered (or any undelivered) notification again, from the first attempt. */
  async redeliver(customerId: string, notificationId: string): Promise<NotificationView> {
    await this.dataSource.query(
      `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL, last_error = NULL, last_error_detail = NULL
        WHERE notification_id = $1 AND status <> 'delivered'
          AND EXISTS (SELECT 1 FROM notifications n WHERE n.id = $1 AND n.customer_id = $2)`,
      [notificationId, customerId],
    );
    const found = (await this.list(customerId, { limit: 1000 })).find((notification) => notification.id === notificationId);
    if (!found) throw new NotFoundException({ error: 'notification_not_found', message: `No notification ${notificationId} for this customer.` });
    return found;
  }

  /** A new signing secret for the customer's webhooks, shown once. */
  rotateWebhookSecret(customerId: string): Promise<{ secret: string }> {
    return this.secrets.rotate(customerId);
  }
}
