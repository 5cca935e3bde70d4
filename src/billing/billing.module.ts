import { Module } from '@nestjs/common';
import { TollgateConfig } from '../config/index.js';
import { CustomersModule } from '../customers/index.js';
import { UsageModule } from '../metering/index.js';
import { TiersModule } from '../tiers/index.js';
import { BillingHistoryService } from './billing-history.service.js';
import { BillingService } from './billing.service.js';
import { CatalogProvisioner } from './catalog.provisioner.js';
import { InvoiceUsageCheck } from './invoice-usage.check.js';
import { MeterErrorsService } from './meter-errors.service.js';
import { PeriodCloseScheduler } from './period-close.scheduler.js';
import { PushOutbox } from './push-outbox.js';
import { StripeWebhookErrors } from './stripe-webhook-errors.js';
import { ReconciliationService } from './reconciliation.service.js';
import { createStripeClient, StripeClient } from './stripe.client.js';
import { SubscriptionsService } from './subscriptions.service.js';
import { UsageSyncScheduler } from './usage-sync.scheduler.js';
import { UsageSyncService } from './usage-sync.service.js';

/** Pricing, Stripe provisioning and subscriptions, the scheduled usage push, reconciliation. */
@Module({
  imports: [CustomersModule, TiersModule, UsageModule],
  providers: [
    { provide: StripeClient, inject: [TollgateConfig], useFactory: createStripeClient },
    BillingService,
    BillingHistoryService,
    CatalogProvisioner,
    PushOutbox,
    StripeWebhookErrors,
    UsageSyncService,
    UsageSyncScheduler,
    PeriodCloseScheduler,
    MeterErrorsService,
    ReconciliationService,
    SubscriptionsService,
    InvoiceUsageCheck,
  ],
  exports: [StripeWebhookErrors, BillingService, CatalogProvisioner, InvoiceUsageCheck, UsageSyncService, ReconciliationService, SubscriptionsService, PushOutbox, StripeClient, MeterErrorsService, PeriodCloseScheduler],
})
export class BillingModule {}
