import { BadRequestException, Controller, HttpCode, Inject, Logger, Post, Req, ServiceUnavailableException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { RawBodyRequest } from '@nestjs/common';
import type { Request } from 'express';
import Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { Public } from '../api-keys/public.decorator.js';
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
 */
@ApiExcludeController()
@Public()
@Controller('v1/stripe/webhooks')
export class StripeWebhooksController {
  private readonly logger = new Logger('StripeWebhooks');
  private readonly verifier = new Stripe('sk_test_webhook_verification_only');

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
    const seen = (await this.dataSource.query('SELECT 1 FROM stripe_webhook_events WHERE id = $1', [event.id])) as unknown[];
    if (seen.length > 0) return { received: true, duplicate: true };
    await this.apply(event);
    // Recorded after applying: a crash in between means a redelivery applies it again, which is harmless
    // (every handler sets state from the event) — unlike skipping it.
    await this.dataSource.query('INSERT INTO stripe_webhook_events (id, type) VALUES ($1, $2) ON CONFLICT DO NOTHING', [event.id, event.type]);
    return { received: true };
  }

  private async apply(event: Stripe.Event): Promise<void> {
    switch (event.type) {
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.deleted': {
        const subscription = event.data.object;
        const stripeCustomerId = typeof subscription.customer === 'string' ? subscription.customer : subscription.customer.id;
        const customer = await this.customers.findByStripeCustomerId(stripeCustomerId);
        if (!customer) return this.logger.warn(`${event.type} for unknown Stripe customer ${stripeCustomerId}`);
        if (event.type === 'customer.subscription.deleted' || subscription.status === 'canceled') {
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
      case 'invoice.paid': {
        const invoice = event.data.object;
        const stripeCustomerId = typeof invoice.customer === 'string' ? invoice.customer : invoice.customer?.id;
        const customer = stripeCustomerId ? await this.customers.findByStripeCustomerId(stripeCustomerId) : null;
        if (!customer) return;
        if (event.type === 'invoice.payment_failed' && customer.status === 'active') await this.customers.applyBilling(customer.id, { status: 'past_due' });
        if (event.type === 'invoice.paid' && customer.status === 'past_due') await this.customers.applyBilling(customer.id, { status: 'active' });
        return;
      }
      default:
        return;
    }
  }
}
