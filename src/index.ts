// Tollgate's public API for host apps. Everything not exported here is internal.

// The module a host app imports, its options and the guard order of the request path.
export { MeteringModule, TOLLGATE_GUARDS } from './tollgate.module.js';
export type { MeteringModuleOptions, MeteringModuleExtras } from './tollgate.options.js';

// Decorators and guards.
export { Tier } from './tiers/index.js';
export { TierGuard } from './api-keys/index.js';
export { Public } from './common/index.js';
export { RateLimitGuard } from './rate-limit/index.js';
export { RateLimitService } from './rate-limit/index.js';
export { Metered, type MeteredOptions, type MeteredCost } from './metering/index.js';
export { QuotaGuard } from './metering/index.js';
export { MeteringInterceptor } from './metering/index.js';
export { UsageService, type UsageReport, type MeterUsage } from './metering/index.js';
export { UsageIngestor, UsageRejectedError } from './metering/index.js';
export { type JsonQuantity, jsonQuantity, parseQuantity } from './common/index.js';
export {
  RateLimitStorage,
  InjectRateLimitStorage,
  type RateLimitPolicy,
  type RateLimitDecision,
  type RateLimitRequest,
  type PolicyState,
} from './rate-limit/index.js';
export { MemoryRateLimitStorage } from './rate-limit/index.js';
export {
  USAGE_RECORDED,
  USAGE_THRESHOLD_CROSSED,
  QUOTA_EXCEEDED,
  type UsageRecordedEvent,
  type UsageThresholdCrossedEvent,
  type QuotaExceededEvent,
} from './metering/index.js';
export { ApiKeyGuard } from './api-keys/index.js';
export { CurrentConsumer, consumerOf, type Consumer } from './api-keys/index.js';

// Errors of the request path (status, body and headers as the service answers) and the filter that answers them in a host app.
export {
  TollgateException,
  InvalidApiKeyException,
  ScopeRequiredException,
  TierRequiredException,
  RateLimitExceededException,
  QuotaExceededException,
  UsageLimitReachedException,
  InvalidCostException,
  InvalidIdempotencyKeyException,
  RateLimiterUnavailableException,
  DatabaseUnavailableException,
  UsageUnavailableException,
  BackingServiceUnavailableException,
  UsageNotRecordedException,
  applyErrorHeaders,
  type ErrorHeaders,
  type TierRequiredDetails,
  type RateLimitExceededDetails,
  type QuotaRefusalDetails,
} from './common/index.js';
export { TollgateExceptionFilter, type ErrorAnswer } from './common/index.js';
export type { ApiErrorBody } from './common/index.js';

// Services a host app may call (provision customers and keys from its own code).
export { CustomersService, type CreateCustomerInput, type UpdateCustomerInput } from './customers/index.js';
export { ApiKeysService, holderGrantor, OPERATOR_GRANTOR, type CreateKeyInput, type IssuedKey, type KeyGrantor, type KeyPage, type KeyPageRequest } from './api-keys/index.js';
export { TiersService } from './tiers/index.js';
export type { ApiKeyView } from './api-keys/index.js';
export type { CustomerView } from './customers/index.js';
export type { EffectiveLimits } from './customers/index.js';

// Domain events (`@OnEvent(TIER_CHANGED)` etc.).
export { TIER_CHANGED, type TierChangedEvent } from './customers/index.js';
export { API_KEY_REVOKED, API_KEY_ROTATED, type ApiKeyRevokedEvent, type ApiKeyRotatedEvent } from './api-keys/index.js';

// Configuration.
export { TollgateConfig, StripeSettings, OperatorSettings, type TollgateOptions } from './config/index.js';
// The one place Tollgate reads environment variables, from the object you pass: `forRoot(fromEnvironment(process.env))`.
export { fromEnvironment } from './config/index.js';
export { MissingPackageError } from './common/index.js';
export { ConfigError, ConfigErrors } from './config/index.js';
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
} from './config/index.js';

// Notifications: verify Tollgate's webhook signatures on the receiving side.
export { verifyWebhookSignature, signWebhook } from './notifications/index.js';
export { NotificationsService } from './notifications/index.js';
export { BillingService } from './billing/index.js';
export { BILLING_USAGE_PUSHED, BILLING_DRIFT_DETECTED, type UsagePushedEvent, type DriftDetectedEvent } from './billing/index.js';
// Notification channels: webhook and email are built in; a host adds its own with `notificationChannels`.
export {
  NotificationChannel,
  InjectNotificationChannels,
  type Audience,
  type ChannelContext,
  type NotificationCustomer,
  type NotificationDelivery,
  type NotificationRecipient,
  type NotificationTarget,
} from './notifications/index.js';
export { DeliveryFailure, type WebhookUrlSetBy } from './notifications/index.js';
