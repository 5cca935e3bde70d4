import { BadRequestException, Body, ConflictException, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Put, Query, Req, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request } from 'express';
import { ListApiKeysQuery, requireChange, UpdateApiKeyDto } from '../admin/index.js';
import { ApiKeysService, holderGrantor } from '../api-keys/index.js';
import { Public } from '../common/index.js';
import { BillingService } from '../billing/index.js';
import { SubscriptionsService } from '../billing/index.js';
import { CUSTOM } from '../config/index.js';
import { TollgateConfig } from '../config/index.js';
import { CustomersService } from '../customers/index.js';
import { UsageService } from '../metering/index.js';
import { NotificationsService } from '../notifications/index.js';
import { webhookUrlProblem } from '../notifications/index.js';
import { TiersService } from '../tiers/index.js';
import { PortalRateLimitGuard } from './portal-rate-limit.guards.js';
import { CurrentPortalSession, PortalSessionGuard } from './portal-session.guard.js';
import type { PortalSession } from './portal-sessions.service.js';
import { summarizePlan, summarizeTiers } from './portal-view.js';
import { PortalCreateKeyDto, PortalRotateKeyDto, UpgradeDto, WebhookUrlDto } from './portal.dto.js';

/** What the portal offers next to each tier of the comparison table. */
export type TierAction = 'current' | 'upgrade' | 'contact_sales' | 'unavailable' | 'included';

const RECENT_NOTIFICATIONS = 10;

/**
 * The portal page's JSON API (`/portal/api/…`): the signed-in customer's account, through the same services
 * as the key holder's `/v1/me` API and the admin API. Cookie session + CSRF token (PortalSessionGuard).
 */
@ApiExcludeController()
@Public()
@UseGuards(PortalSessionGuard, PortalRateLimitGuard)
@Controller('portal/api')
export class PortalApiController {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(UsageService) private readonly usage: UsageService,
    @Inject(BillingService) private readonly billing: BillingService,
    @Inject(SubscriptionsService) private readonly subscriptions: SubscriptionsService,
    @Inject(NotificationsService) private readonly notifications: NotificationsService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  /** Everything the dashboard shows, in one call. */
  @Get('overview')
  async overview(@CurrentPortalSession() session: PortalSession) {
    const customer = await this.customers.get(session.customerId);
    const [usage, invoice, notifications, webhookSecret] = await Promise.all([
      this.usage.report(customer.id, 'current'),
      this.billing.invoicePreview(customer.id),
      this.notifications.list(customer.id, { limit: RECENT_NOTIFICATIONS, customerOnly: true }),
      this.customers.webhookSecret(customer.id),
    ]);
    const catalog = this.tiers.list();
    const tier = this.tiers.get(customer.tier);
    const limits = this.customers.limitsOf(customer);
    const stripeEnabled = Boolean(this.config.stripe.secretKey);
    return {
      account: {
        id: customer.id,
        name: customer.name,
        email: customer.email,
        status: customer.status,
        tier: customer.tier,
        subscribed: Boolean(customer.stripeSubscriptionId),
        webhookUrl: customer.webhookUrl,
        webhookSecretSet: webhookSecret !== null,
      },
      plan: summarizePlan(catalog, tier, limits, customer.overrides.price),
      limits,
      usage,
      invoice,
      notifications,
      meters: this.tiers.catalog.meters,
      tiers: summarizeTiers(catalog).map((summary) => ({ ...summary, action: this.actionFor(summary, tier.rank, stripeEnabled) })),
      billing: { stripeEnabled },
      session: { signedInWith: session.method, apiKeyId: session.apiKeyId, expiresAt: session.expiresAt.toISOString() },
    };
  }

  @Get('keys')
  async keys(@CurrentPortalSession() session: PortalSession, @Query() query: ListApiKeysQuery) {
    return { ...(await this.apiKeys.list(session.customerId, query)), sessionKeyId: session.apiKeyId };
  }

  /** The secret is in this response only. The session grants at most what the key it was opened with holds. */
  @Post('keys')
  async createKey(@CurrentPortalSession() session: PortalSession, @Body() body: PortalCreateKeyDto) {
    const grantor = await this.apiKeys.grantorFor(session.customerId, session.apiKeyId);
    return this.apiKeys.create(session.customerId, { name: body.name?.trim() || 'default', mode: body.mode ?? 'live', scopes: body.scopes, controls: body.controls }, grantor);
  }

  /** A new name and/or controls, under the key holder's rules (operator-set controls are locked). */
  @Patch('keys/:keyId')
  async updateKey(@CurrentPortalSession() session: PortalSession, @Param('keyId') keyId: string, @Body() body: UpdateApiKeyDto) {
    // A rename needs no grant (it works after the session's key expired, as before); controls do.
    const grantor = body.controls === undefined ? holderGrantor(null) : await this.apiKeys.grantorFor(session.customerId, session.apiKeyId);
    return this.apiKeys.update(session.customerId, keyId, requireChange(body), grantor);
  }

  @Post('keys/:keyId/rotate')
  @HttpCode(200)
  async rotateKey(@CurrentPortalSession() session: PortalSession, @Param('keyId') keyId: string, @Body() body: PortalRotateKeyDto) {
    const grantor = await this.apiKeys.grantorFor(session.customerId, session.apiKeyId);
    return this.apiKeys.rotate(session.customerId, keyId, body.gracePeriodSeconds, grantor);
  }

  /** Revoking the key this session was opened with also ends the session. */
  @Delete('keys/:keyId')
  @HttpCode(200)
  revokeKey(@CurrentPortalSession() session: PortalSession, @Param('keyId') keyId: string) {
    return this.apiKeys.revoke(session.customerId, keyId);
  }

  @Put('webhook')
  async setWebhook(@CurrentPortalSession() session: PortalSession, @Body() body: WebhookUrlDto) {
    const url = body.url?.trim() || null;
    const problem = url === null ? null : webhookUrlProblem(url);
    if (problem) {
      throw new BadRequestException({ error: 'validation_failed', message: `The webhook URL ${problem}.`, details: [{ field: 'url', problems: [problem] }] });
    }
    // Recorded as the customer's: the delivery worker lets it reach public addresses only.
    const customer = await this.customers.update(session.customerId, { webhookUrl: url, webhookUrlSetBy: 'customer' });
    return { webhookUrl: customer.webhookUrl };
  }

  /** A new signing secret for webhooks, shown once; the previous one stops verifying. */
  @Post('webhook/secret')
  @HttpCode(200)
  rotateWebhookSecret(@CurrentPortalSession() session: PortalSession) {
    return this.notifications.rotateWebhookSecret(session.customerId);
  }

  /**
   * Moves the customer up to `tier`: a Stripe Checkout session the browser is sent to (the tier changes when
   * Stripe's subscription webhook arrives), or, for a customer who already pays by subscription, a change of
   * that subscription's prices (prorated).
   */
  @Post('upgrade')
  @HttpCode(200)
  async upgrade(@CurrentPortalSession() session: PortalSession, @Req() request: Request, @Body() body: UpgradeDto) {
    const customer = await this.customers.get(session.customerId);
    const current = this.tiers.get(customer.tier);
    const target = this.tiers.find(body.tier);
    if (!target) {
      throw new BadRequestException({ error: 'validation_failed', message: `Unknown tier "${body.tier}".`, details: [{ field: 'tier', problems: ['unknown tier'] }] });
    }
    if (target.rank <= current.rank) {
      throw new ConflictException({ error: 'not_an_upgrade', message: `The ${target.name} plan is not above your current ${current.name} plan.` });
    }
    if (target.price === CUSTOM) {
      throw new ConflictException({ error: 'tier_not_subscribable', message: `The ${target.name} plan is arranged with sales, not bought online.` });
    }
    if (customer.stripeSubscriptionId) {
      const updated = await this.subscriptions.subscribe(customer.id, target.name);
      // The tier moves once Stripe reports the subscription active; until then the customer has an invoice to pay.
      return updated.granted
        ? { changed: true, tier: updated.customer.tier }
        : { changed: false, tier: updated.customer.tier, subscriptionStatus: updated.subscription.status, payUrl: updated.subscription.latestInvoice?.hostedInvoiceUrl ?? null };
    }
    const base = (this.config.publicUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
    const checkout = await this.subscriptions.checkout(customer.id, target.name, {
      successUrl: `${base}/portal/?checkout=success#plan`,
      cancelUrl: `${base}/portal/?checkout=canceled#upgrade`,
    });
    return { checkoutUrl: checkout.url, checkoutSessionId: checkout.id };
  }

  private actionFor(summary: { rank: number; purchasable: boolean }, currentRank: number, stripeEnabled: boolean): TierAction {
    if (summary.rank === currentRank) return 'current';
    if (summary.rank < currentRank) return 'included';
    if (!summary.purchasable) return 'contact_sales';
    return stripeEnabled ? 'upgrade' : 'unavailable';
  }
}
