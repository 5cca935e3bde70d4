/** Domain events of the customers module (`@nestjs/event-emitter`). */
export const TIER_CHANGED = 'tier.changed';
export const CUSTOMER_CHANGED = 'customer.changed';

export interface TierChangedEvent {
  customerId: string;
  previousTier: string;
  tier: string;
  at: Date;
}

export interface CustomerChangedEvent {
  customerId: string;
}
