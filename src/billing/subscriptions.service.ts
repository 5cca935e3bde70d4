import { ConflictException, Inject, Injectable } from '@nestjs/common';
import type Stripe from 'stripe';
import { CUSTOM } from '../config/tier-catalog.js';
import { billingAnchor, type CustomerEntity } from '../customers/customer.entity.js';
import { CustomersService } from '../customers/customers.service.js';
import { TiersService } from '../tiers/tiers.service.js';
import { BillingHistoryService } from './billing-history.service.js';
import { InjectStripe, type StripeClient, stripeNames } from './stripe.client.js';

/** The billing period of a subscription: on its items since the 2025 APIs, on the subscription before. */
export function subscriptionPeriod(subscription: Stripe.Subscription): { start: Date; end: Date } | null {
  const item = subscription.items?.data?.[0] as (Stripe.SubscriptionItem & { current_period_start?: number; current_period_end?: number }) | undefined;
  const legacy = subscription as Stripe.Subscription & { current_period_start?: number; current_period_end?: number };
  const start = item?.current_period_start ?? legacy.current_period_start;
  const end = item?.current_period_end ?? legacy.current_period_end;
  return start && end ? { start: new Date(start * 1000), end: new Date(end * 1000) } : null;
}

/** The tier a subscription stands for: its metadata, else the lookup_key of its base price. */
export function subscriptionTier(subscription: Stripe.Subscription): string | null {
  if (subscription.metadata?.tollgate_tier) return subscription.metadata.tollgate_tier;
  for (const item of subscription.items?.data ?? []) {
    const match = /^tollgate_(.+)_base$/.exec(item.price?.lookup_key ?? '');
    if (match) return match[1];
  }
  return null;
}

/** Puts customers on paid tiers in Stripe: a Stripe customer and a subscription with the tier's prices. */
@Injectable()
export class SubscriptionsService {
  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(BillingHistoryService) private readonly history: BillingHistoryService,
  ) {}

  async subscribe(customerId: string, tierName: string): Promise<CustomerEntity> {
    const stripe = this.stripe;
    if (!stripe) {
      throw new ConflictException({ error: 'stripe_disabled', message: 'Stripe is off (no STRIPE_SECRET_KEY): change the tier with PATCH /v1/customers/:id.' });
    }
    const customer = await this.customers.get(customerId);
    const tier = this.tiers.find(tierName);
    if (!tier || tier.price === CUSTOM) {
      throw new ConflictException({ error: 'tier_not_subscribable', message: `Tier "${tierName}" has no list price to subscribe to; custom deals are set up in Stripe by hand.` });
    }
    const stripeCustomerId = customer.stripeCustomerId ?? (await this.createStripeCustomer(stripe, customer));
    const lookupKeys = [stripeNames.basePrice(tier.name), ...Object.keys(tier.meters).map((meter) => stripeNames.meteredPrice(tier.name, meter))];
    const prices = (await stripe.prices.list({ lookup_keys: lookupKeys, active: true, limit: 100 })).data;
    if (!prices.some((price) => price.lookup_key === stripeNames.basePrice(tier.name))) {
      throw new ConflictException({ error: 'catalog_not_provisioned', message: 'Stripe has no prices for this tier yet: run provisioning first (POST /v1/billing/provision).' });
    }
    const metadata = { tollgate_customer_id: customer.id, tollgate_tier: tier.name };
    let subscription: Stripe.Subscription;
    if (customer.stripeSubscriptionId) {
      const current = await stripe.subscriptions.retrieve(customer.stripeSubscriptionId);
      // Swapping the prices closes the metered items: Stripe bills their usage so far at the old prices, from
      // what its meters hold at the change. Read now, it is what the preview bills for the closed segment.
      const closedQuantities = await this.closingQuantities(stripe, customer, stripeCustomerId);
      subscription = await stripe.subscriptions.update(current.id, {
        items: [
          ...current.items.data.map((item) => ({ id: item.id, deleted: true })),
          ...prices.map((price) => ({ price: price.id })),
        ],
        metadata,
        proration_behavior: 'create_prorations',
      });
      const kept = new Set(current.items.data.map((item) => item.id));
      const added = subscription.items.data.filter((item) => !kept.has(item.id)).map((item) => item.created);
      await this.history.recordTierChange(customer.id, {
        // Stripe's instant of the change (its new items' creation), which splits the period's usage and prorations.
        at: added.length > 0 ? new Date(Math.max(...added) * 1000) : new Date(),
        previousTier: customer.tier,
        tier: tier.name,
        stripeSubscriptionId: subscription.id,
        period: subscriptionPeriod(subscription),
        closedQuantities,
      });
    } else {
      subscription = await stripe.subscriptions.create(
        { customer: stripeCustomerId, items: prices.map((price) => ({ price: price.id })), metadata },
        { idempotencyKey: `tollgate-subscribe-${customer.id}-${tier.name}` },
      );
    }
    return this.customers.applyBilling(customer.id, {
      tier: tier.name,
      status: 'active',
      stripeCustomerId,
      stripeSubscriptionId: subscription.id,
      period: subscriptionPeriod(subscription),
    });
  }

  /**
   * A Stripe Checkout session that subscribes the customer to `tierName`; the tier changes when Stripe's
   * `customer.subscription.created` webhook arrives (not when the browser comes back, which proves nothing).
   */
  async checkout(customerId: string, tierName: string, urls: { successUrl: string; cancelUrl: string }): Promise<{ id: string; url: string }> {
    const stripe = this.stripe;
    if (!stripe) {
      throw new ConflictException({ error: 'stripe_disabled', message: 'Upgrades go through Stripe Checkout, and Stripe is off here (no STRIPE_SECRET_KEY).' });
    }
    const customer = await this.customers.get(customerId);
    const tier = this.tiers.find(tierName);
    if (!tier || tier.price === CUSTOM) {
      throw new ConflictException({ error: 'tier_not_subscribable', message: `Tier "${tierName}" cannot be bought online; contact sales.` });
    }
    const stripeCustomerId = customer.stripeCustomerId ?? (await this.createStripeCustomer(stripe, customer));
    const lookupKeys = [stripeNames.basePrice(tier.name), ...Object.keys(tier.meters).map((meter) => stripeNames.meteredPrice(tier.name, meter))];
    const prices = (await stripe.prices.list({ lookup_keys: lookupKeys, active: true, limit: 100 })).data;
    if (!prices.some((price) => price.lookup_key === stripeNames.basePrice(tier.name))) {
      throw new ConflictException({ error: 'catalog_not_provisioned', message: 'Stripe has no prices for this tier yet: run provisioning first.' });
    }
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription',
      customer: stripeCustomerId,
      line_items: prices.map((price) => (price.recurring?.usage_type === 'metered' ? { price: price.id } : { price: price.id, quantity: 1 })),
      success_url: urls.successUrl,
      cancel_url: urls.cancelUrl,
      subscription_data: { metadata: { tollgate_customer_id: customer.id, tollgate_tier: tier.name } },
      metadata: { tollgate_customer_id: customer.id, tollgate_tier: tier.name },
    });
    if (!session.url) throw new Error('Stripe returned a checkout session without a URL');
    return { id: session.id, url: session.url };
  }

  /** What Stripe's meters hold for the customer since the current segment began (period start or last change). */
  private async closingQuantities(stripe: Stripe, customer: CustomerEntity, stripeCustomerId: string): Promise<Record<string, number>> {
    const period = billingAnchor(customer);
    if (!period) return {};
    const changes = (await this.history.rows(customer.id)).filter((row) => row.kind === 'tier_change' && row.at >= period.start && row.at < period.end);
    return this.history.meteredSince(stripe, stripeCustomerId, changes[changes.length - 1]?.at ?? period.start);
  }

  private async createStripeCustomer(stripe: Stripe, customer: CustomerEntity): Promise<string> {
    const created = await stripe.customers.create(
      { name: customer.name, ...(customer.email && { email: customer.email }), metadata: { tollgate_customer_id: customer.id } },
      { idempotencyKey: `tollgate-customer-${customer.id}` },
    );
    await this.customers.applyBilling(customer.id, { stripeCustomerId: created.id });
    return created.id;
  }
}
