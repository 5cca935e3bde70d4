// The customers module's public surface: other folders import only from here (enforced by the boundary lint).
export { billingAnchor, BLOCKED_CUSTOMER_STATUSES, CustomerEntity, type CustomerStatus, endedPeriod } from './customer.entity.js';
export { type CustomerView } from './customer.view.js';
export { CUSTOMER_CHANGED, type CustomerChangedEvent, TIER_CHANGED, type TierChangedEvent } from './customers.events.js';
export { CustomersModule } from './customers.module.js';
export { type CreateCustomerInput, CustomersService, type UpdateCustomerInput } from './customers.service.js';
export { type EffectiveLimits } from './effective-limits.js';
