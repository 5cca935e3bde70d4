import { ConflictException, Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { KeyedSerializer } from '../common/index.js';
import { CUSTOM, type TierDefinition } from '../config/index.js';
import { billingAnchor, type CustomerEntity } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { TiersService } from '../tiers/index.js';
import { BillingHistoryService } from './billing-history.service.js';
import { pricesByLookupKey } from './price-catalog.js';
import { InjectStripe, isStripeError, type StripeClient, stripeNames } from './stripe.client.js';

/** Statuses in which a subscription grants its tier. `incomplete` (first payment not made) does not. */
export const GRANTING_STATUSES: ReadonlySet<string> = new Set(['active', 'trialing']);
/** Statuses that take the tier away (the customer falls back to the lowest tier). */
export const ENDING_STATUSES: ReadonlySet<string> = new Set(['canceled', 'incomplete_expired']);
export const SUSPENDING_STATUSES: ReadonlySet<string> = new Set(['unpaid', 'paused']);

type ItemWithPeriod = Stripe.SubscriptionItem & { current_period_start?: number; current_period_end?: number };

/**
 * The billing period usage is counted in: the METERED item's (since the 2025 APIs each item has its own
 * period, and in flexible billing mode items may differ in interval). The item is matched by price id when
 * the caller knows the metered prices, else by Tollgate's price metadata, else any metered item; the
 * first item, then the legacy subscription fields, are the fallbacks.
 */
export function subscriptionPeriod(subscription: Stripe.Subscription, meteredPriceIds?: ReadonlySet<string>): { start: Date; end: Date } | null {
  const items = (subscription.items?.data ?? []) as ItemWithPeriod[];
  const metered = (item: ItemWithPeriod) => item.price?.recurring?.usage_type === 'metered';
  const item =
    (meteredPriceIds && items.find((candidate) => meteredPriceIds.has(candidate.price?.id))) ??
    // Tollgate's metered prices say so in their metadata, which (unlike the lookup_key) stays on a replaced price.
    items.find((candidate) => metered(candidate) && candidate.price?.metadata?.tollgate_kind === 'metered') ??
    items.find(metered) ??
    items[0];
  const legacy = subscription as unknown as { current_period_start?: number; current_period_end?: number };
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

const samePrices = (subscription: Stripe.Subscription, prices: Stripe.Price[]) => {
  const current = subscription.items.data.map((item) => item.price.id).sort();
  const wanted = prices.map((price) => price.id).sort();
  return current.length === wanted.length && current.every((id, i) => id === wanted[i]);
};

/** What a subscribe call did: the tier is granted only once the subscription is active (or trialing). */
export interface SubscribeResult {
  customer: CustomerEntity;
  granted: boolean;
  subscription: {
    id: string;
    status: string;
    /** The invoice the customer must pay when the subscription waits for payment (incomplete, past_due). */
    latestInvoice: { id: string; status: string | null; amountDue: number; hostedInvoiceUrl: string | null } | null;
    /** What has to happen next, in words, when the tier is not granted yet. */
    nextStep: string | null;
  };
}

interface Attempt {
  id: string;
  tier: string;
  createdAt: Date;
}

/**
 * An open attempt younger than this may still be running, and is not recovered yet (recovering a live one would make
 * a second subscription). Its worst case: retrieve, cancel, create or update, and the tier-change reads, each up to
 * three tries of the SDK's 20 s timeout — about 5 minutes; 10 leaves room for a slow database.
 */
const IN_FLIGHT_MS = 600_000;

/** Puts customers on paid tiers in Stripe: a Stripe customer and a subscription with the tier's prices. */
@Injectable()
export class SubscriptionsService {
  private readonly logger = new Logger('Subscriptions');
  /** One subscribe per customer at a time on this instance (the open-attempt index decides between instances). */
  private readonly perCustomer = new KeyedSerializer();

  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(BillingHistoryService) private readonly history: BillingHistoryService,
  ) {}

  subscribe(customerId: string, tierName: string): Promise<SubscribeResult> {
    return this.perCustomer.run(customerId, () => this.subscribeNow(customerId, tierName));
  }

  private async subscribeNow(customerId: string, tierName: string): Promise<SubscribeResult> {
    const stripe = this.stripe;
    if (!stripe) {
      throw new ConflictException({ error: 'stripe_disabled', message: 'Stripe is off (no STRIPE_SECRET_KEY): change the tier with PATCH /v1/customers/:id.' });
    }
    let customer = await this.customers.get(customerId);
    const tier = this.tiers.find(tierName);
    if (!tier || tier.price === CUSTOM) {
      throw new ConflictException({ error: 'tier_not_subscribable', message: `Tier "${tierName}" has no list price to subscribe to; custom deals are set up in Stripe by hand.` });
    }
    // A subscription bills the tier's shared prices: a per-customer price or included quantity would show in the
    // preview and never on Stripe's invoice.
    const unbillable = (['price', 'includedCalls'] as const).filter((field) => customer.overrides[field] !== undefined);
    if (unbillable.length > 0) {
      throw new ConflictException({
        error: 'overrides_not_billable',
        message: `The customer's overrides (${unbillable.map((field) => `overrides.${field}`).join(', ')}) are not on the tier's Stripe prices: remove them (PATCH /v1/customers/:id) before subscribing, or bill this deal in Stripe by hand.`,
      });
    }
    const stripeCustomerId = customer.stripeCustomerId ?? (await this.createStripeCustomer(stripe, customer));
    const prices = await this.tierPrices(stripe, tier.name, meteredMeters(tier));
    const meteredIds = new Set(prices.filter((price) => price.recurring?.usage_type === 'metered').map((price) => price.id));

    // An attempt left open by a crash or a lost answer: Stripe may have applied it. Its subscription carries
    // the attempt id in its metadata; adopt it if it is there, else the attempt never happened. A young open
    // attempt is another call still running (on another instance): answer 409 rather than race it.
    const open = await this.openAttempt(customer.id);
    if (open && Date.now() - open.createdAt.getTime() < IN_FLIGHT_MS) {
      throw new ConflictException({ error: 'subscribe_in_progress', message: 'Another subscribe call for this customer is in progress; retry when it has finished.' });
    }
    if (open) {
      const applied = await this.findAttemptSubscription(stripe, stripeCustomerId, open.id);
      if (applied) await this.customers.applyBilling(customer.id, { stripeSubscriptionId: applied.id });
      await this.closeAttempt(open.id, applied ? 'done' : 'failed', applied?.id ?? null);
    }

    // The attempt is taken before the customer's subscription is read: at most one is open per customer, so
    // whatever an earlier call did is visible here (a concurrent one gets 409 from startAttempt).
    const attempt = await this.startAttempt(customer.id, tier.name);
    let outcomeUnknown = false;
    try {
      customer = await this.customers.get(customer.id);
      const current = customer.stripeSubscriptionId ? await stripe.subscriptions.retrieve(customer.stripeSubscriptionId, { expand: ['latest_invoice'] }) : null;
      let subscription: Stripe.Subscription;
      if (current && !ENDING_STATUSES.has(current.status) && current.metadata?.tollgate_tier === tier.name && samePrices(current, prices)) {
        // Already on exactly these prices: nothing to change in Stripe; the call applies what Stripe says now
        // (e.g. the first invoice has been paid since, and its webhook has not arrived yet).
        subscription = current;
      } else {
        const metadata = { tollgate_customer_id: customer.id, tollgate_tier: tier.name, tollgate_attempt: attempt.id };
        outcomeUnknown = true;
        if (current && !ENDING_STATUSES.has(current.status) && current.status !== 'incomplete') {
          subscription = await this.withRetries(() =>
            stripe.subscriptions.update(
              current.id,
              {
                items: [...current.items.data.map((item) => ({ id: item.id, deleted: true })), ...prices.map((price) => ({ price: price.id }))],
                metadata,
                proration_behavior: 'create_prorations',
                expand: ['latest_invoice'],
              },
              { idempotencyKey: `tollgate-subscription-update-${attempt.id}` },
            ),
          );
          await this.recordTierChange(stripe, customer, stripeCustomerId, tier.name, current, subscription, meteredIds);
        } else {
          if (current?.status === 'incomplete') {
            // "A subscription in this status can only have metadata and default_source updated": replace it.
            await this.withRetries(() => stripe.subscriptions.cancel(current.id, {}, { idempotencyKey: `tollgate-subscription-cancel-${current.id}` }));
          }
          subscription = await this.withRetries(() =>
            stripe.subscriptions.create(
              {
                customer: stripeCustomerId,
                items: prices.map((price) => ({ price: price.id })),
                metadata,
                // Stated, not assumed: Stripe's default. A first invoice that cannot be paid leaves it `incomplete`.
                payment_behavior: 'allow_incomplete',
                // Stated, not assumed: tier changes rely on flexible mode (a removed metered item invoices its usage so
                // far); it is the default only since API version 2025-09-30.clover.
                billing_mode: { type: 'flexible' },
                expand: ['latest_invoice'],
              },
              // A new key per attempt: re-subscribing after a cancellation (even within Stripe's 24 h key
              // memory) is a new subscription, never the replay of the old one.
              { idempotencyKey: `tollgate-subscribe-${attempt.id}` },
            ),
          );
        }
      }
      outcomeUnknown = false;
      // Recorded on the customer before the attempt closes, so the next attempt sees it.
      const result = await this.settle(customer.id, tier.name, subscription, meteredIds);
      await this.closeAttempt(attempt.id, 'done', subscription.id);
      return result;
    } catch (error) {
      // Stripe refused (4xx), or nothing was sent: this attempt is over, the next call starts a new one. A lost
      // answer (network, 5xx, 429 after retries) leaves it open, to be found by its metadata.
      const refused = isStripeError(error) && error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 && error.statusCode !== 429;
      if (!outcomeUnknown || refused) await this.closeAttempt(attempt.id, 'failed', null);
      throw error;
    }
  }

  /** Records what the subscription means for the customer: the tier if it grants it, else only the pending id. */
  private async settle(customerId: string, tierName: string, subscription: Stripe.Subscription, meteredIds: ReadonlySet<string>): Promise<SubscribeResult> {
    const stripe = this.stripe!;
    let latest = subscription.latest_invoice;
    if (typeof latest === 'string') latest = await stripe.invoices.retrieve(latest);
    const granted = GRANTING_STATUSES.has(subscription.status);
    const customer = await this.customers.get(customerId);
    const saved = granted
      ? await this.customers.applyBilling(customerId, {
          tier: tierName,
          ...(customer.status === 'past_due' && { status: 'active' }),
          stripeSubscriptionId: subscription.id,
          period: subscriptionPeriod(subscription, meteredIds),
        })
      : // Not granted: remember the subscription (its webhooks grant the tier once paid) unless one already serves
        // the customer; its period too, since its metered item counts usage from its creation.
        !customer.stripeSubscriptionId || customer.stripeSubscriptionId === subscription.id
        ? await this.customers.applyBilling(customerId, { stripeSubscriptionId: subscription.id, period: subscriptionPeriod(subscription, meteredIds) })
        : customer;
    const invoice = latest ?? null;
    const waitsForPayment = !granted && invoice !== null && invoice.status === 'open';
    return {
      customer: saved,
      granted,
      subscription: {
        id: subscription.id,
        status: subscription.status,
        latestInvoice: invoice && { id: invoice.id!, status: invoice.status, amountDue: invoice.amount_due, hostedInvoiceUrl: invoice.hosted_invoice_url ?? null },
        nextStep: granted
          ? null
          : waitsForPayment
            ? `The first invoice is unpaid: the customer pays it${invoice.hosted_invoice_url ? ` at ${invoice.hosted_invoice_url}` : ''}; the tier is granted when Stripe reports the subscription active.`
            : `The subscription is ${subscription.status}: the tier is granted when Stripe reports it active.`,
      },
    };
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
    const prices = await this.tierPrices(stripe, tier.name, meteredMeters(tier));
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

  /**
   * A price swap mid-period, at Stripe's instant of it (its new items' creation): it splits the period's usage
   * (each price bills its own segment) and prorates the base; the history keeps what Stripe billed for the
   * segment that closed, for the invoice preview.
   */
  private async recordTierChange(
    stripe: Stripe,
    customer: CustomerEntity,
    stripeCustomerId: string,
    tierName: string,
    before: Stripe.Subscription,
    after: Stripe.Subscription,
    meteredIds: ReadonlySet<string>,
  ): Promise<void> {
    const kept = new Set(before.items.data.map((item) => item.id));
    const added = after.items.data.filter((item) => !kept.has(item.id)).map((item) => item.created);
    const change = {
      at: added.length > 0 ? new Date(Math.max(...added) * 1000) : new Date(),
      previousTier: customer.tier,
      tier: tierName,
      stripeSubscriptionId: after.id,
      period: subscriptionPeriod(after, meteredIds),
    };
    await this.history.recordTierChange(stripe, { id: customer.id, stripeCustomerId }, change, billingAnchor(customer));
  }

  /** The tier's active prices (base first), looked up by lookup_key 10 at a time. */
  private async tierPrices(stripe: Stripe, tier: string, meters: string[]): Promise<Stripe.Price[]> {
    const base = stripeNames.basePrice(tier);
    const wanted = [base, ...meters.map((meter) => stripeNames.meteredPrice(tier, meter))];
    const found = await pricesByLookupKey(stripe, wanted);
    // A missing metered price would leave that meter's overage billed nowhere: refuse rather than subscribe without it.
    const missing = wanted.filter((lookupKey) => !found.has(lookupKey));
    if (missing.length > 0) {
      throw new ConflictException({
        error: 'catalog_not_provisioned',
        message: `Stripe has no price ${missing.join(', ')} for this tier yet: run provisioning first (POST /v1/billing/provision).`,
      });
    }
    return [found.get(base)!, ...[...found.values()].filter((price) => price.lookup_key !== base)];
  }

  /** Retries a Stripe call whose answer was lost (connection error, 5xx, 429) with the same Idempotency-Key. */
  private async withRetries<T>(call: () => Promise<T>, tries = 3): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        const status = isStripeError(error) ? error.statusCode : undefined;
        const transient = !isStripeError(error) || error.type === 'StripeConnectionError' || status === undefined || status === 429 || status >= 500;
        if (!transient || attempt >= tries) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  private async openAttempt(customerId: string): Promise<Attempt | null> {
    const rows = (await this.dataSource.query(`SELECT id, tier, created_at FROM stripe_subscribe_attempts WHERE customer_id = $1 AND status = 'open'`, [customerId])) as Array<{
      id: string;
      tier: string;
      created_at: Date | string;
    }>;
    return rows[0] ? { id: rows[0].id, tier: rows[0].tier, createdAt: new Date(rows[0].created_at) } : null;
  }

  private async startAttempt(customerId: string, tier: string): Promise<Attempt> {
    const id = randomUUID();
    const rows = (await this.dataSource.query(
      `INSERT INTO stripe_subscribe_attempts (id, customer_id, tier) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING id`,
      [id, customerId, tier],
    )) as Array<{ id: string }>;
    if (rows.length === 0) throw new ConflictException({ error: 'subscribe_in_progress', message: 'Another subscribe call for this customer is in progress; retry when it has finished.' });
    return { id, tier, createdAt: new Date() };
  }

  private async closeAttempt(id: string, status: 'done' | 'failed', subscriptionId: string | null): Promise<void> {
    await this.dataSource.query(`UPDATE stripe_subscribe_attempts SET status = $2, stripe_subscription_id = $3, updated_at = now() WHERE id = $1`, [id, status, subscriptionId]);
  }

  private async findAttemptSubscription(stripe: Stripe, stripeCustomerId: string, attemptId: string): Promise<Stripe.Subscription | null> {
    for await (const subscription of stripe.subscriptions.list({ customer: stripeCustomerId, status: 'all', limit: 100 })) {
      if (subscription.metadata?.tollgate_attempt === attemptId) return subscription;
    }
    return null;
  }

  private async createStripeCustomer(stripe: Stripe, customer: CustomerEntity): Promise<string> {
    const created = await stripe.customers.create(
      { name: customer.name, ...(customer.email && { email: customer.email }), metadata: { tollgate_customer_id: customer.id } },
      { idempotencyKey: `tollgate-customer-${customer.id}` },
    );
    await this.customers.applyBilling(customer.id, { stripeCustomerId: created.id });
    this.logger.log(`Stripe customer ${created.id} for ${customer.id}`);
    return created.id;
  }
}

/** The tier's meters that have a metered price in Stripe (the ones with overage pricing, as provisioning makes them). */
function meteredMeters(tier: TierDefinition): string[] {
  return Object.entries(tier.meters)
    .filter(([, terms]) => terms.overage && terms.included !== CUSTOM)
    .map(([meter]) => meter);
}
