import { Module } from '@nestjs/common';
import { CustomersModule } from '../customers/index.js';
import { UsageModule } from '../metering/index.js';
import { TiersModule } from '../tiers/index.js';
import { BillingController } from './billing.controller.js';
import { BillingModule } from './billing.module.js';
import { StripeEventsController } from './stripe-events.controller.js';
import { StripeWebhooksController } from './stripe-webhooks.controller.js';

/** Billing's operator API and Stripe's webhook endpoint (the service's API only, not mounted in a host app). */
@Module({
  imports: [BillingModule, CustomersModule, TiersModule, UsageModule],
  controllers: [BillingController, StripeWebhooksController, StripeEventsController],
})
export class BillingApiModule {}
