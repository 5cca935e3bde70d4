// The billing module's public surface: other folders import only from here (enforced by the boundary lint).
export { BILLING_DRIFT_DETECTED, BILLING_USAGE_PUSHED, type DriftDetectedEvent, type UsagePushedEvent } from './billing.events.js';
export { BillingModule } from './billing.module.js';
export { BillingService } from './billing.service.js';
export { CatalogProvisioner } from './catalog.provisioner.js';
export { SubscriptionsService } from './subscriptions.service.js';
