import type { CustomerEntity } from './customer.entity.js';
import type { EffectiveLimits } from './effective-limits.js';

export interface CustomerView {
  id: string;
  externalId: string | null;
  name: string;
  email: string | null;
  tier: string;
  status: string;
  overrides: CustomerEntity['overrides'];
  limits: EffectiveLimits;
  stripeCustomerId: string | null;
  stripeSubscriptionId: string | null;
  currentPeriod: { start: string; end: string } | null;
  webhookUrl: string | null;
  /** "customer" when set in the portal: such a URL may only reach public addresses. */
  webhookUrlSetBy: CustomerEntity['webhookUrlSetBy'];
  createdAt: string;
  updatedAt: string;
}

export function toCustomerView(customer: CustomerEntity, limits: EffectiveLimits): CustomerView {
  return {
    id: customer.id,
    externalId: customer.externalId,
    name: customer.name,
    email: customer.email,
    tier: customer.tier,
    status: customer.status,
    overrides: customer.overrides,
    limits,
    stripeCustomerId: customer.stripeCustomerId,
    stripeSubscriptionId: customer.stripeSubscriptionId,
    currentPeriod:
      customer.periodStart && customer.periodEnd
        ? { start: customer.periodStart.toISOString(), end: customer.periodEnd.toISOString() }
        : null,
    webhookUrl: customer.webhookUrl,
    webhookUrlSetBy: customer.webhookUrlSetBy,
    createdAt: customer.createdAt.toISOString(),
    updatedAt: customer.updatedAt.toISOString(),
  };
}
