import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { createSmtpTransport, type MailTransport } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import type { NotificationChannel, NotificationDelivery, NotificationRecipient, NotificationTarget } from './notification-channel.js';

const UNSENT_MAIL: MailTransport = { sendMail: async () => undefined, close: () => undefined };

/** Built in: an email to the customer's address (operator alerts: OPERATOR_EMAIL), through SMTP_URL. */
@Injectable()
export class EmailChannel implements NotificationChannel, OnApplicationBootstrap {
  readonly kind = 'email';
  private readonly logger = new Logger('Deliveries');
  /** Without SMTP, emails are rendered but only logged (development); with it, sent for real. */
  private mailer: MailTransport = UNSENT_MAIL;

  constructor(@Inject(TollgateConfig) private readonly config: TollgateConfig) {}

  async onApplicationBootstrap(): Promise<void> {
    // nodemailer is an optional peer: loaded only when SMTP is configured.
    if (this.config.smtpUrl) this.mailer = await createSmtpTransport(this.config.smtpUrl);
  }

  target({ audience, customer }: NotificationRecipient): NotificationTarget | null {
    const email = audience === 'operator' ? this.config.operator.email : customer.email;
    return email ? { target: email, setBy: 'operator' } : null;
  }

  async deliver(delivery: NotificationDelivery): Promise<void> {
    await this.mailer.sendMail({
      from: this.config.emailFrom,
      to: delivery.target,
      subject: delivery.subject,
      text: `${delivery.message}\n\n— Tollgate (notification ${delivery.notificationId})`,
      messageId: `<${delivery.notificationId}@tollgate>`,
      headers: { 'X-Tollgate-Notification-Id': delivery.notificationId },
    });
    if (!this.config.smtpUrl) this.logger.log(`email ${delivery.notificationId} to customer ${delivery.customerId} (SMTP_URL unset, not sent)`);
  }

  close(): void {
    this.mailer.close();
  }
}
