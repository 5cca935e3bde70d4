import { Module } from '@nestjs/common';
import { CustomersModule } from '../customers/index.js';
import { TiersModule } from '../tiers/index.js';
import { DeliveryWorker } from './delivery.worker.js';
import { EmailChannel } from './email.channel.js';
import { channelList, HOST_NOTIFICATION_CHANNELS, NotificationChannel } from './notification-channel.js';
import { NotificationsService } from './notifications.service.js';
import { SecretVault } from './secret-vault.js';
import { WebhookChannel } from './webhook.channel.js';
import { WebhookSecrets } from './webhook-secrets.js';
import { systemResolver, WEBHOOK_HOST_RESOLVER, WebhookSender } from './webhook-sender.js';

const channels = {
  provide: NotificationChannel,
  inject: [WebhookChannel, EmailChannel, { token: HOST_NOTIFICATION_CHANNELS, optional: true }],
  useFactory: (webhook: WebhookChannel, email: EmailChannel, host?: NotificationChannel[]) => channelList([webhook, email], host),
};

/** Listens to domain events, records what each customer is told, and delivers it (webhook, email, a host's own channels). */
@Module({
  imports: [CustomersModule, TiersModule],
  providers: [
    NotificationsService,
    DeliveryWorker,
    SecretVault,
    WebhookSecrets,
    WebhookSender,
    WebhookChannel,
    EmailChannel,
    channels,
    { provide: WEBHOOK_HOST_RESOLVER, useValue: systemResolver },
  ],
  exports: [NotificationsService, DeliveryWorker, channels],
})
export class NotificationsModule {}
