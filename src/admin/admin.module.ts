import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/api-keys.module.js';
import { BillingController } from '../billing/billing.controller.js';
import { BillingModule } from '../billing/billing.module.js';
import { StripeEventsController } from '../billing/stripe-events.controller.js';
import { StripeWebhooksController } from '../billing/stripe-webhooks.controller.js';
import { CustomersModule } from '../customers/customers.module.js';
import { EventsController } from '../metering/events.controller.js';
import { UsageController } from '../metering/usage.controller.js';
import { UsageModule } from '../metering/usage.module.js';
import { NotificationsController } from '../notifications/notifications.controller.js';
import { NotificationsModule } from '../notifications/notifications.module.js';
import { TiersController } from '../tiers/tiers.controller.js';
import { TiersModule } from '../tiers/tiers.module.js';
import { AdminGuard } from './admin.guard.js';
import { ApiKeysAdminController } from './api-keys.admin.controller.js';
import { CustomersAdminController } from './customers.admin.controller.js';

/** The billing service's HTTP API for operators (admin token) plus the public tier catalog. */
@Module({
  imports: [CustomersModule, ApiKeysModule, TiersModule, UsageModule, BillingModule, NotificationsModule],
  controllers: [
    TiersController,
    CustomersAdminController,
    ApiKeysAdminController,
    EventsController,
    UsageController,
    BillingController,
    StripeWebhooksController,
    StripeEventsController,
    NotificationsController,
  ],
  providers: [AdminGuard],
})
export class AdminModule {}
