import { Inject, Injectable } from '@nestjs/common';
import { TollgateConfig } from '../config/index.js';
import type { ChannelContext, NotificationChannel, NotificationDelivery, NotificationRecipient, NotificationTarget } from './notification-channel.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { signWebhook } from './webhook-signature.js';

/** The JSON every webhook-style channel posts for a notification. */
export function notificationPayload(delivery: NotificationDelivery): string {
  return JSON.stringify({
    id: delivery.notificationId,
    type: delivery.kind,
    createdAt: new Date(delivery.createdAt).toISOString(),
    customerId: delivery.customerId,
    subject: delivery.subject,
    message: delivery.message,
    data: delivery.data,
  });
}

/** Built in: a signed POST to the customer's webhook URL (operator alerts: OPERATOR_WEBHOOK_URL). */
@Injectable()
export class WebhookChannel implements NotificationChannel {
  readonly kind = 'webhook';

  constructor(
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(WebhookSecrets) private readonly secrets: WebhookSecrets,
  ) {}

  target({ audience, customer }: NotificationRecipient): NotificationTarget | null {
    // The operator's own address may be internal; a customer's URL is checked at delivery unless the operator set it.
    if (audience === 'operator') return this.config.operator.webhookUrl ? { target: this.config.operator.webhookUrl, setBy: 'operator' } : null;
    return customer.webhookUrl ? { target: customer.webhookUrl, setBy: customer.webhookUrlSetBy } : null;
  }

  async deliver(delivery: NotificationDelivery, context: ChannelContext): Promise<void> {
    const body = notificationPayload(delivery);
    const secret = delivery.audience === 'operator' ? this.operatorSecret() : await this.secrets.current(delivery.customerId);
    // Operator alerts go to OPERATOR_WEBHOOK_URL, which the operator set.
    const setBy = delivery.audience === 'operator' ? 'operator' : delivery.targetSetBy;
    await context.post(
      delivery.target,
      setBy,
      {
        'content-type': 'application/json',
        'user-agent': 'Tollgate-Webhooks/1',
        'tollgate-signature': signWebhook(body, secret),
        'tollgate-notification-id': delivery.notificationId,
        'tollgate-delivery-attempt': String(delivery.attempt),
      },
      body,
    );
  }

  private operatorSecret(): string {
    // Validated at start-up whenever OPERATOR_WEBHOOK_URL is set; a delivery queued under an older setting fails and retries.
    const secret = this.config.operator.webhookSecret;
    if (!secret) throw new Error('OPERATOR_WEBHOOK_SECRET is not set');
    return secret;
  }
}
