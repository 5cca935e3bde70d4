import { BadRequestException, Controller, HttpCode, Inject, Logger, Post, Req, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { RawBodyRequest } from '@nestjs/common';
import type { Request } from 'express';
import type Stripe from 'stripe';
import { loadStripe } from './stripe.client.js';
import type { DataSource } from 'typeorm';
import { Public } from '../common/index.js';
import { KeyedSerializer } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { CustomersService } from '../customers/index.js';
import { InjectTollgateDataSource } from '../database/index.js';
import { TiersService } from '../tiers/index.js';
import { InvoiceUsageCheck } from './invoice-usage.check.js';
import { StripeWebhookErrors } from './stripe-webhook-errors.js';
import { ENDING_STATUSES, GRANTING_STATUSES, SUSPENDING_STATUSES, subscriptionPeriod, subscriptionTier } from './subscriptions.service.js';

/**
 * Stripe → Tollgate. Signature verified on the raw body; each event id processed once.
 * Policy (the tier follows the subscription's status): `active` / `trialing` grant the subscription's tier and
 * period; `incomplete` grants nothing (the first payment is not made) and only records a pending subscription;
 * `past_due` keeps the tier and marks the customer past_due (keys keep working; the operator decides on
 * suspension); `unpaid` / `paused` take the tier away (lowest tier) but keep the subscription, which may come
 * back; `canceled` / `incomplete_expired` (and deletion) end it: lowest tier, calendar-month periods.
 * invoice.payment_failed → past_due; invoice.paid → active again. invoice.created / invoice.finalized: the
 * invoice's metered quantities are checked against Tollgate's own totals (see InvoiceUsageCheck).
 * Order: Stripe may deliver events late and out of order. A subscription event older (by `event.created`)
 * than one already applied for the same Stripe customer is recorded but not applied; the same holds among
 * payment events (invoice.paid / invoice.payment_failed). The end of a subscription that is no longer the
 * customer's current one does not touch the tier.
 */
@ApiExcludeController()
@Public()
@Controller('v1/stripe/webhooks')
export class StripeWebhooksController {
  private readonly logger = new Logger('StripeWebhooks');
  /** Made at the first event: stripe is an optional peer. */
  private verifier: Stripe | null = null;
  /** One event per Stripe customer at a time on this instance, so the ordering check and the apply are one step. */
  private readonly perCustomer = new KeyedSerializer();

  constructor(
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(InvoiceUsageCheck) private readonly invoiceCheck: InvoiceUsageCheck,
    @Inject(StripeWebhookErrors) private readonly errors: StripeWebhookErrors,
  ) {}

  @Post()
  @HttpCode(200)
  async receive(@Req() request: RawBodyRequest<Request>) {
    try {
      return await this.handle(request);
    } catch (error) {
      // Kept for the operator console: a refused or failed delivery is one Stripe will retry (or give up on).
      this.errors.record(error);
      throw error;
    }
  }

  private async handle(request: RawBodyRequest<Request>) {
    const secret = this.config.stripe.webhookSecret;
    if (!secret) throw new ServiceUnavailableException({ error: 'webhooks_disabled', message: 'STRIPE_WEBHOOK_SECRET is not set.' });
    const signature = request.header('stripe-signature');
    if (!signature || !request.rawBody) throw new BadRequestException({ error: 'invalid_signature', message: 'Missing Stripe-Signature header or body.' });
    let event: Stripe.Event;
    this.verifier ??= new (await loadStripe())('sk_test_webhook_verification_only');
    try {
      event = this.verifier.webhooks.constructEvent(request.rawBody, signature, secret);
    } catch {
      throw new BadRequestException({ error: 'invalid_signature', message: 'The Stripe signature does not verify.' });
    }
    const problem = envelopeProblem(event);
    if (problem) throw new BadRequestException({ error: 'invalid_event', message: `The event is not shaped like a Stripe event: ${problem}.` });
    const stripeCustomerId = stripeCustomerOf(event);
    return this.perCustomer.run(stripeCustomerId ?? event.id, () => this.process(event, stripeCustomerId));
  }

  private async process(event: Stripe.Event, stripeCustomerId: string | null) {
    const seen = (await this.dataSource.query('SELECT 1 FROM stripe_webhook_events WHERE id = $1', [event.id])) as unknown[];
    if (seen.length > 0) return { received: true, duplicate: true };
    const created = new Date(event.created * 1000);
    const group = orderingGroup(event.type);
    const superseded = group !== null && stripeCustomerId !== null && (await this.newerEventApplied(stripeCustomerId, created, group));
    if (superseded) this.logger.warn(`${event.type} ${event.id} skipped: a newer ${group.name} event of ${stripeCustomerId} was already applied`);
    else await this.apply(event, stripeCustomerId);
    // Recorded after applying: a crash in between means a redelivery applies it again, which is harmless
    // (every handler sets state from the event) — unlike skipping it.
    await this.dataSource.query(
      `INSERT INTO stripe_webhook_events (id, type, stripe_customer_id, event_created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [event.id, event.type, stripeCustomerId, created],
    );
    return superseded ? { received: true, superseded: true } : { received: true };
  }

  private async newerEventApplied(stripeCustomerId: string, created: Date, group: OrderingGroup): Promise<boolean> {
    const rows = (await this.dataSource.query(
      `SELECT 1 FROM stripe_webhook_events
        WHERE stripe_customer_id = $1 AND type = ANY($3::text[]) AND event_created > $2 LIMIT 1`,
      [stripeCustomerId, created, group.types],
    )) as unknown[];
    return rows.length > 0;
  }

  private async apply(event: Stripe.Event, stripeCustomerId: string | null): Promise<void> {
    if (!stripeCustomerId || !HANDLED_EVENTS.has(event.type)) return;
    const customer = await this.customers.findByStripeCustomerId(stripeCustomerId);
    if (!customer) return this.logger.warn(`${event.type} for unknown Stripe customer ${stripeCustomerId}`);
    switch (event.type) {
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.paused':
      case 'customer.subscription.resumed':
      case 'customer.subscription.deleted': {
        const subscription = event.data.object;
        const status = event.type === 'customer.subscription.deleted' ? 'canceled' : subscription.status;
        // Not the customer's subscription of record (e.g. an upgrade replaced it): only an active one takes over.
        const current = !customer.stripeSubscriptionId || customer.stripeSubscriptionId === subscription.id;
        const lowest = this.tiers.list()[0].name;
        const reactivate = customer.status === 'past_due' ? { status: 'active' as const } : {};
        if (GRANTING_STATUSES.has(status)) {
          const tier = subscriptionTier(subscription);
          await this.customers.applyBilling(customer.id, {
            ...(tier && this.tiers.has(tier) && { tier }),
            stripeSubscriptionId: subscription.id,
            period: subscriptionPeriod(subscription),
            ...reactivate,
          });
          return;
        }
        if (!current) return this.logger.log(`${event.type} (${status}) for ${subscription.id}, not the current subscription of ${customer.id}: tier kept`);
        if (ENDING_STATUSES.has(status)) {
          await this.customers.applyBilling(customer.id, { tier: lowest, stripeSubscriptionId: null, period: null, ...reactivate });
        } else if (SUSPENDING_STATUSES.has(status)) {
          // Unpaid or paused: no paid tier meanwhile; the subscription is kept, so its return to active restores it.
          await this.customers.applyBilling(customer.id, { tier: lowest, stripeSubscriptionId: subscription.id, ...reactivate });
        } else if (status === 'past_due') {
          if (customer.status === 'active') await this.customers.applyBilling(customer.id, { status: 'past_due', stripeSubscriptionId: subscription.id });
        } else if (status === 'incomplete') {
          // Waiting for its first payment: recorded (with the period its metered item counts in), nothing granted.
          await this.customers.applyBilling(customer.id, { stripeSubscriptionId: subscription.id, period: subscriptionPeriod(subscription) });
        }
        return;
      }
      case 'invoice.payment_failed':
        if (customer.status === 'active') await this.customers.applyBilling(customer.id, { status: 'past_due' });
        return;
      case 'invoice.paid':
        if (customer.status === 'past_due') await this.customers.applyBilling(customer.id, { status: 'active' });
        return;
      case 'invoice.created':
      case 'invoice.finalized':
        await this.invoiceCheck.check(customer, event.data.object, event.type === 'invoice.finalized' ? 'finalized' : 'draft');
        return;
      default:
        return;
    }
  }
}

const HANDLED_EVENTS: ReadonlySet<string> = new Set([
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.deleted',
  'invoice.payment_failed',
  'invoice.paid',
  'invoice.created',
  'invoice.finalized',
]);

interface OrderingGroup {
  name: string;
  types: string[];
}

/**
 * Events that set state from their snapshot, grouped so that an older one never undoes a newer one of its
 * group: subscription events (tier, period, status) and payment events (status). invoice.created/finalized only
 * check, so they are not ordered.
 */
const ORDERING_GROUPS: OrderingGroup[] = [
  { name: 'subscription', types: [...HANDLED_EVENTS].filter((type) => type.startsWith('customer.subscription.')) },
  { name: 'payment', types: ['invoice.paid', 'invoice.payment_failed'] },
];
const orderingGroup = (type: string) => ORDERING_GROUPS.find((group) => group.types.includes(type)) ?? null;

/** Stripe ids (`evt_…`, `cus_…`): visible ASCII, which Postgres stores as is. */
const STRIPE_ID = /^[\x21-\x7e]{1,255}$/;
/** 9999-12-31T23:59:59Z: the last second a timestamptz column takes from a 4-digit year. */
const MAX_UNIX_SECONDS = 253_402_300_799;

/**
 * What is wrong with a signed event's envelope (the fields read before dispatching on its type), or null.
 * A valid signature proves who sent it, not that every field is what this code expects.
 */
function envelopeProblem(event: Stripe.Event): string | null {
  const { id, type, created, data } = event as { id: unknown; type: unknown; created: unknown; data: unknown };
  if (typeof id !== 'string' || !STRIPE_ID.test(id)) return 'id must be a Stripe id';
  if (typeof type !== 'string' || !STRIPE_ID.test(type)) return 'type must be an event type';
  if (!Number.isSafeInteger(created) || (created as number) < 0 || (created as number) > MAX_UNIX_SECONDS) return 'created must be a Unix time';
  const object = (data as { object?: unknown } | null)?.object;
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return 'data.object must be an object';
  return null;
}

/** The Stripe customer an event is about, for the events we act on. */
function stripeCustomerOf(event: Stripe.Event): string | null {
  const object = event.data.object as { object?: string; customer?: unknown };
  if (object.object !== 'subscription' && object.object !== 'invoice') return null;
  const customer = typeof object.customer === 'object' && object.customer !== null ? (object.customer as { id?: unknown }).id : object.customer;
  return typeof customer === 'string' && STRIPE_ID.test(customer) ? customer : null;
}
