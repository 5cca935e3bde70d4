import { BadRequestException, Body, Controller, Get, HttpCode, Inject, NotFoundException, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { AdminGuard } from '../admin/index.js';
import { Public } from '../common/index.js';
import { CustomersService } from '../customers/index.js';
import { ApiErrors } from '../common/api.js';
import { ApiUsagePeriod } from '../metering/api.js';
import {
  InvoicePreviewDto,
  ProvisionReportDto,
  PushDto,
  PushesQueryDto,
  PushPageDto,
  ReconciliationReportDto,
  SubscribeDto,
  SubscribedCustomerDto,
  SyncReportDto,
} from './billing.dto.js';
import { BillingService } from './billing.service.js';
import { CatalogProvisioner } from './catalog.provisioner.js';
import { PushOutbox } from './push-outbox.js';
import { ReconciliationService } from './reconciliation.service.js';
import { SubscriptionsService } from './subscriptions.service.js';
import { UsageSyncService } from './usage-sync.service.js';

@ApiTags('admin: billing')
@ApiBearerAuth('admin')
@Public()
@UseGuards(AdminGuard)
@Controller('v1')
export class BillingController {
  constructor(
    @Inject(CatalogProvisioner) private readonly provisioner: CatalogProvisioner,
    @Inject(UsageSyncService) private readonly usageSync: UsageSyncService,
    @Inject(ReconciliationService) private readonly reconciliation: ReconciliationService,
    @Inject(SubscriptionsService) private readonly subscriptions: SubscriptionsService,
    @Inject(BillingService) private readonly billing: BillingService,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(PushOutbox) private readonly outbox: PushOutbox,
  ) {}

  @Post('billing/provision')
  @HttpCode(200)
  @ApiOperation({ summary: 'Create the Stripe products, meters and prices of tiers.yaml (idempotent)' })
  @ApiOkResponse({ type: ProvisionReportDto })
  @ApiErrors({ 409: ['stripe_disabled'] })
  provision() {
    return this.provisioner.provision();
  }

  @Post('billing/sync')
  @HttpCode(200)
  @ApiOperation({ summary: 'Push usage to Stripe now (dry run without STRIPE_SECRET_KEY)' })
  @ApiOkResponse({ type: SyncReportDto })
  sync() {
    return this.usageSync.sync();
  }

  @Get('billing/pushes')
  @ApiOperation({ summary: 'The latest meter-event pushes (the outbox); ?status=failed lists what Stripe refused' })
  @ApiOkResponse({ type: PushPageDto })
  async pushes(@Query() query: PushesQueryDto) {
    return { data: await this.outbox.recent(100, query.status) };
  }

  @Post('billing/pushes/:pushId/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Re-send the usage of a failed push at the next sync (after fixing what Stripe refused)' })
  @ApiOkResponse({ type: PushDto, description: 'The push, marked retry_requested' })
  @ApiErrors({ 404: ['not_found'] })
  async retryPush(@Param('pushId') pushId: string) {
    if (!/^\d{1,18}$/.test(pushId)) throw new NotFoundException({ error: 'not_found', message: `No failed push ${pushId.slice(0, 40)}.` });
    const push = await this.outbox.requestRetry(pushId);
    if (!push) throw new NotFoundException({ error: 'not_found', message: `No failed push ${pushId} waiting for a retry.` });
    return push;
  }

  @Get('billing/reconciliation')
  @ApiOperation({ summary: "Local, pushed and Stripe totals per customer and meter for a period, and the drift" })
  @ApiUsagePeriod()
  @ApiOkResponse({ type: ReconciliationReportDto })
  reconcile(@Query('period') period?: string) {
    return this.reconciliation.reconcile(period ?? 'current');
  }

  @Post('customers/:customerId/subscription')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Put a customer on a paid tier in Stripe (customer + subscription with base and metered prices)',
    description: '200: the subscription is active (or trialing) and the tier is granted. 202: Stripe created it but it waits for payment (e.g. `incomplete`); the tier is granted when Stripe reports it active — `subscription.latestInvoice.hostedInvoiceUrl` is where the customer pays.',
  })
  @ApiOkResponse({ type: SubscribedCustomerDto, description: 'Subscribed; the tier is granted' })
  @ApiAcceptedResponse({ type: SubscribedCustomerDto, description: 'Subscription created, waiting for payment; tier not granted yet' })
  @ApiErrors({
    404: ['customer_not_found'],
    409: ['stripe_disabled', 'tier_not_subscribable', 'overrides_not_billable', 'subscribe_in_progress', 'catalog_not_provisioned'],
  })
  async subscribe(@Param('customerId') customerId: string, @Body() body: SubscribeDto, @Res({ passthrough: true }) response: Response) {
    const result = await this.subscriptions.subscribe(customerId, body.tier);
    if (!result.granted) response.status(202);
    return { ...this.customers.view(result.customer), subscription: result.subscription };
  }

  @Get('customers/:customerId/invoice-preview')
  @ApiOperation({
    summary: 'The invoice closing a period, as Stripe makes it: usage per tier, prorations, next base; exact decimal money',
  })
  @ApiQuery({
    name: 'at',
    required: false,
    description: 'An instant (ISO 8601) in the period to preview, e.g. a past one being invoiced; now by default',
    schema: { type: 'string', format: 'date-time' },
  })
  @ApiOkResponse({ type: InvoicePreviewDto })
  @ApiErrors({ 404: ['customer_not_found'] })
  invoicePreview(@Param('customerId') customerId: string, @Query('at') at?: unknown) {
    return this.billing.invoicePreview(customerId, previewInstant(at));
  }
}

/** Ten years either way: far enough for any period a customer had, near enough to step periods quickly. */
const PREVIEW_RANGE_MS = 10 * 366 * 86_400_000;

/** `?at=`: an ISO 8601 date-time within ten years of now, else a 400 naming the field. */
function previewInstant(value: unknown): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(value) ? new Date(value) : null;
  if (!parsed || Number.isNaN(parsed.getTime()) || Math.abs(parsed.getTime() - Date.now()) > PREVIEW_RANGE_MS) {
    throw new BadRequestException({
      error: 'validation_failed',
      message: 'at must be an ISO 8601 date-time (e.g. 2026-01-31T10:00:00Z) within ten years of now.',
      details: [{ field: 'at', problems: ['must be an ISO 8601 date-time within ten years of now'] }],
    });
  }
  return parsed;
}
