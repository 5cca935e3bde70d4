// The billing module's public surface: other folders import only from here (enforced by the boundary lint).
export { BILLING_DRIFT_DETECTED, BILLING_USAGE_PUSHED, type DriftDetectedEvent, type UsagePushedEvent } from './billing.events.js';
export { BillingModule } from './billing.module.js';
export { BillingService } from './billing.service.js';
export { CatalogProvisioner, type CatalogItemState, type CatalogState } from './catalog.provisioner.js';
export { SubscriptionsService } from './subscriptions.service.js';
export { type Push, PushOutbox, type PushStatus } from './push-outbox.js';
export { type ReconciliationReport, type ReconciliationRow, ReconciliationService } from './reconciliation.service.js';
export { formatMinor } from './invoice-preview.js';
export { type SyncReport, type SyncRun, UsageSyncService } from './usage-sync.service.js';
export { type StripeWebhookError, StripeWebhookErrors } from './stripe-webhook-errors.js';
