import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { createSmtpTransport, type MailTransport } from '../common/smtp-transport.js';
import { TollgateConfig } from '../config/tollgate-config.js';
import { CustomersService } from '../customers/customers.service.js';
import { InjectTollgateDataSource } from '../database/tollgate-connection.js';
import { type Audience, NotificationsService } from './notifications.service.js';
import { SecretVault } from './secret-vault.js';
import { signWebhook } from './webhook-signature.js';
import { DeliveryFailure, WebhookSender, type WebhookUrlSetBy } from './webhook-sender.js';

interface ClaimedDelivery {
  id: string;
  channel: 'webhook' | 'email';
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
/** Without SMTP an email delivery succeeds without leaving the process. */
const UNSENT_MAIL: MailTransport = { sendMail: async () => undefined, close: () => undefined };
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
  /** Set at bootstrap: nodemailer is loaded only when SMTP is configured. */
  private mailer: MailTransport = UNSENT_MAIL;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(NotificationsService) private readonly notifications: NotificationsService,
    @Inject(SecretVault) private readonly vault: SecretVault,
    @Inject(WebhookSender) private readonly webhooks: WebhookSender,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // Without SMTP, emails are rendered but not sent (development); with it, sent for real.
    if (this.config.smtpUrl) this.mailer = await createSmtpTransport(this.config.smtpUrl);
    this.timer = setInterval(() => void this.tick(), this.config.notificationPollMs);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    this.mailer.close();
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
      if (delivery.channel === 'webhook') await this.sendWebhook(delivery);
      else await this.sendEmail(delivery);
      await this.dataSource.query(
        `UPDATE outbox SET status = 'delivered', delivered_at = now(), locked_until = NULL, last_error = NULL, last_error_detail = NULL WHERE id = $1`,
        [delivery.id],
      );
    } catch (error) {
      // The customer sees a generic reason; the raw error (addresses, error codes) is for the operator only.
      const reason = error instanceof DeliveryFailure ? error.reason : delivery.channel === 'email' ? 'email could not be sent' : 'delivery failed';
      const detail = (error as Error).message.slice(0, 500);
      const dead = delivery.attempts >= this.config.notificationMaxAttempts;
      const delayMs = this.config.notificationRetryBaseMs * 2 ** (delivery.attempts - 1);
      await this.dataSource.query(
        `UPDATE outbox SET status = $2, last_error = $3, last_error_detail = $5, locked_until = NULL,
                next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1`,
        [delivery.id, dead ? 'dead' : 'pending', reason, delayMs / 1000, detail],
      );
      if (reason.startsWith('destination refused')) {
        this.logger.warn(`webhook of ${delivery.notification_id} for customer ${delivery.customer_id} refused: ${detail}`);
      }
      if (dead) this.logger.warn(`${delivery.channel} delivery of ${delivery.notification_id} dead-lettered after ${delivery.attempts} attempts: ${detail}`);
    }
  }

  private payload(delivery: ClaimedDelivery): string {
    return JSON.stringify({
      id: delivery.notification_id,
      type: delivery.kind,
      createdAt: new Date(delivery.created_at).toISOString(),
      customerId: delivery.customer_id,
      subject: delivery.subject,
      message: delivery.message,
      data: delivery.data,
    });
  }

  private async sendWebhook(delivery: ClaimedDelivery): Promise<void> {
    const body = this.payload(delivery);
    const secret = delivery.audience === 'operator' ? this.operatorSecret() : await this.customerSecret(delivery.customer_id);
    // Operator alerts go to OPERATOR_WEBHOOK_URL, which the operator set.
    const setBy = delivery.audience === 'operator' ? 'operator' : delivery.target_set_by;
    await this.webhooks.send(
      delivery.target,
      setBy,
      {
        'content-type': 'application/json',
        'user-agent': 'Tollgate-Webhooks/1',
        'tollgate-signature': signWebhook(body, secret),
        'tollgate-notification-id': delivery.notification_id,
        'tollgate-delivery-attempt': String(delivery.attempts),
      },
      body,
    );
  }

  private async customerSecret(customerId: string): Promise<string> {
    const sealed = await this.customers.webhookSecret(customerId);
    return sealed ? this.vault.open(sealed) : (await this.notifications.rotateWebhookSecret(customerId)).secret;
  }

  private operatorSecret(): string {
    // Validated at start-up whenever OPERATOR_WEBHOOK_URL is set; a delivery queued under an older setting fails and retries.
    const secret = this.config.operator.webhookSecret;
    if (!secret) throw new Error('OPERATOR_WEBHOOK_SECRET is not set');
    return secret;
  }

  private async sendEmail(delivery: ClaimedDelivery): Promise<void> {
    await this.mailer.sendMail({
      from: this.config.emailFrom,
      to: delivery.target,
      subject: delivery.subject,
      text: `${delivery.message}\n\n— Tollgate (notification ${delivery.notification_id})`,
      messageId: `<${delivery.notification_id}@tollgate>`,
      headers: { 'X-Tollgate-Notification-Id': delivery.notification_id },
    });
    if (!this.config.smtpUrl) this.logger.log(`email ${delivery.notification_id} to customer ${delivery.customer_id} (SMTP_URL unset, not sent)`);
  }
}
