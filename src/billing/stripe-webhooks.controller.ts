import { BadRequestException, Controller, HttpCode, Inject, Logger, Post, Req, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { RawBodyRequest } from '@nestjs/common';
import type { Request } from 'express';
import Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { Public } from '../api-keys/public.decorator.js';
import { KeyedSerializer } from '../common/keyed-serializer.js';
import { TollgateConfig } from '../config/tollgate-config.js';
import { CustomersService } from '../customers/customers.service.js';
import { InjectTollgateDataSource } from '../database/tollgate-connection.js';
import { TiersService } from '../tiers/tiers.service.js';
import { subscriptionPeriod, subscriptionTier } from './subscriptions.service.js';

/**
 * Stripe → Tollgate. Signature verified on the raw body; each event id processed once.
 * Policy: subscription created/updated → tier and period from the subscription; deleted → the lowest tier,
 * calendar-month periods; invoice.payment_failed → status past_due (keys keep working; the operator decides
 * on suspension); invoice.paid → active again.
 * Order: Stripe may deliver events late and out of order. A subscription event older (by `event.created`)
 * than one already applied for the same Stripe customer is recorded but not applied, and the deletion of a
 * subscription that is no longer the customer's current one does not touch the tier.
 */
@ApiExcludeController()
@Public()
@Controller('v1/stripe/webhooks')
export class StripeWebhooksController {
  private readonly logger = new Logger('StripeWebhooks');
  private readonly verifier = new Stripe('sk_test_webhook_verification_only');
  /** One event per Stripe customer at a time on this instance, so the ordering check and the apply are one step. */
  private readonly perCustomer = new KeyedSerializer();

  constructor(
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
  ) {}

  @Post()
  @HttpCode(200)
  async receive(@Req() request: RawBodyRequest<Request>) {
    const secret = this.config.stripe.webhookSecret;
    if (!secret) throw new ServiceUnavailableException({ error: 'webhooks_disabled', message: 'STRIPE_WEBHOOK_SECRET is not set.' });
    const signature = request.header('stripe-signature');
    if (!signature || !request.rawBody) throw new BadRequestException({ error: 'invalid_signature', message: 'Missing Stripe-Signature header or body.' });
    let event: Stripe.Event;
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
    const superseded = isSubscriptionEvent(event) && stripeCustomerId !== null && (await this.newerSubscriptionEventApplied(stripeCustomerId, created));
    if (superseded) this.logger.warn(`${event.type} ${event.id} skipped: a newer subscription event of ${stripeCustomerId} was already applied`);
    else await this.apply(event, stripeCustomerId);
    // Recorded after applying: a crash in between means a redelivery applies it again, which is harmless
    // (every handler sets state from the event) — unlike skipping it.
    await this.dataSource.query(
      `INSERT INTO stripe_webhook_events (id, type, stripe_customer_id, event_created) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
      [event.id, event.type, stripeCustomerId, created],
    );
    return superseded ? { received: true, superseded: true } : { received: true };
  }

  private async newerSubscriptionEventApplied(stripeCustomerId: string, created: Date): Promise<boolean> {
    const rows = (await this.dataSource.query(
      `SELECT 1 FROM stripe_webhook_events
        WHERE stripe_customer_id = $1 AND type LIKE 'customer.subscription.%' AND event_created > $2 LIMIT 1`,
      [stripeCustomerId, created],
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
      case 'customer.subscription.deleted': {
        const subscription = event.data.object;
        if (event.type === 'customer.subscription.deleted' || subscription.status === 'canceled') {
          // The end of a subscription the customer has already replaced (an upgrade by a new subscription).
          if (customer.stripeSubscriptionId && customer.stripeSubscriptionId !== subscription.id) {
            return this.logger.log(`${event.type} for ${subscription.id}, not the current subscription of ${customer.id}: tier kept`);
          }
          await this.customers.applyBilling(customer.id, { tier: this.tiers.list()[0].name, stripeSubscriptionId: null, period: null, status: 'active' });
          return;
        }
        const tier = subscriptionTier(subscription);
        await this.customers.applyBilling(customer.id, {
          ...(tier && this.tiers.has(tier) && { tier }),
          stripeSubscriptionId: subscription.id,
          period: subscriptionPeriod(subscription),
          ...(subscription.status === 'active' && customer.status === 'past_due' && { status: 'active' }),
        });
        return;
      }
      case 'invoice.payment_failed':
        if (customer.status === 'active') await this.customers.applyBilling(customer.id, { status: 'past_due' });
        return;
      case 'invoice.paid':
        if (customer.status === 'past_due') await this.customers.applyBilling(customer.id, { status: 'active' });
        return;
      default:
        return;
    }
  }
}

const HANDLED_EVENTS: ReadonlySet<string> = new Set([
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.payment_failed',
  'invoice.paid',
]);

const isSubscriptionEvent = (event: Stripe.Event) => event.type.startsWith('customer.subscription.');

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
