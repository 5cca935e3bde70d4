import { Module } from '@nestjs/common';
import { CustomersModule } from '../customers/index.js';
import { TiersModule } from '../tiers/index.js';
import { DeliveryWorker } from './delivery.worker.js';
import { NotificationsController } from './notifications.controller.js';
import { NotificationsService } from './notifications.service.js';
import { SecretVault } from './secret-vault.js';
import { systemResolver, WEBHOOK_HOST_RESOLVER, WebhookSender } from './webhook-sender.js';

/** Listens to domain events, records what each customer is told, and delivers it (webhook, email). */
@Module({
  imports: [CustomersModule, TiersModule],
  providers: [NotificationsService, DeliveryWorker, SecretVault, WebhookSender, { provide: WEBHOOK_HOST_RESOLVER, useValue: systemResolver }],
  exports: [NotificationsService, DeliveryWorker],
})
export class NotificationsModule {}

/** The operator API for a customer's notifications (the service's API only, not mounted in a host app). */
@Module({
  imports: [NotificationsModule],
  controllers: [NotificationsController],
})
export class NotificationsApiModule {}
