// Tollgate's public API for host apps. Everything not exported here is internal.

// The module a host app imports, its options and the guard order of the request path.
export { MeteringModule, TOLLGATE_GUARDS } from './metering/metering.module.js';
export type { MeteringModuleOptions, MeteringModuleExtras } from './metering/metering.options.js';

// Decorators and guards.
export { Tier } from './tiers/tier.decorator.js';
export { TierGuard } from './tiers/tier.guard.js';
export { Public } from './api-keys/public.decorator.js';
export { RateLimitGuard } from './rate-limit/rate-limit.guard.js';
export { RateLimitService } from './rate-limit/rate-limit.service.js';
export { RateLimitStorage, type RateLimitPolicy, type RateLimitDecision } from './rate-limit/rate-limit.storage.js';
export { Metered, type MeteredOptions, type MeteredCost } from './metering/metered.decorator.js';
export { QuotaGuard } from './metering/quota.guard.js';
export { MeteringInterceptor } from './metering/metering.interceptor.js';
export { UsageService, type UsageReport, type MeterUsage } from './metering/usage.service.js';
export { UsageIngestor, UsageRejectedError } from './metering/usage-ingestor.js';
export { type JsonQuantity, jsonQuantity, parseQuantity } from './common/quantity.js';
export {
  USAGE_RECORDED,
  USAGE_THRESHOLD_CROSSED,
  QUOTA_EXCEEDED,
  type UsageRecordedEvent,
  type UsageThresholdCrossedEvent,
  type QuotaExceededEvent,
} from './metering/usage.events.js';
export { ApiKeyGuard } from './api-keys/api-key.guard.js';
export { CurrentConsumer, consumerOf, type Consumer } from './api-keys/consumer.js';

// Services a host app may call (provision customers and keys from its own code).
export { CustomersService, type CreateCustomerInput, type UpdateCustomerInput } from './customers/customers.service.js';
export { ApiKeysService, holderGrantor, OPERATOR_GRANTOR, type CreateKeyInput, type IssuedKey, type KeyGrantor, type KeyPage, type KeyPageRequest } from './api-keys/api-keys.service.js';
export { TiersService } from './tiers/tiers.service.js';
export type { ApiKeyView } from './api-keys/api-key.entity.js';
export type { CustomerView } from './customers/customer.view.js';
export type { EffectiveLimits } from './customers/effective-limits.js';

// Domain events (`@OnEvent(TIER_CHANGED)` etc.).
export { TIER_CHANGED, type TierChangedEvent } from './customers/customers.events.js';
export { API_KEY_REVOKED, API_KEY_ROTATED, type ApiKeyRevokedEvent, type ApiKeyRotatedEvent } from './api-keys/api-keys.events.js';

// Configuration.
export { TollgateConfig, StripeSettings, OperatorSettings } from './config/tollgate-config.js';
export type { TollgateOptions } from './config/tollgate-options.js';
// The one place Tollgate reads environment variables, from the object you pass: `forRoot(fromEnvironment(process.env))`.
export { fromEnvironment } from './config/environment.js';
export { MissingPackageError } from './common/optional-peer.js';
export { ConfigError, ConfigErrors } from './config/config.errors.js';
export {
  parseTierCatalog,
  loadTierCatalog,
  CUSTOM,
  DEFAULT_METER,
  type TierCatalog,
  type TierDefinition,
  type TierPrice,
  type RatePolicy,
  type OveragePricing,
  type MeterDefinition,
  type QuotaPolicy,
} from './config/tier-catalog.js';

// Notifications: verify Tollgate's webhook signatures on the receiving side.
export { verifyWebhookSignature, signWebhook } from './notifications/webhook-signature.js';
export { NotificationsService } from './notifications/notifications.service.js';
export { BillingService } from './billing/billing.service.js';
export { BILLING_USAGE_PUSHED, BILLING_DRIFT_DETECTED, type UsagePushedEvent, type DriftDetectedEvent } from './billing/billing.events.js';
