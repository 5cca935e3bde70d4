import { Body, ConflictException, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { CreateApiKeyDto, requireChange, RotateApiKeyDto, UpdateApiKeyDto } from '../admin/index.js';
import { ApiKeysService } from '../api-keys/index.js';
import { CatalogProvisioner, PushOutbox, ReconciliationService, UsageSyncService } from '../billing/index.js';
import { Public, validationFailed } from '../common/index.js';
import { CustomersService } from '../customers/index.js';
import { UsageLedger } from '../metering/index.js';
import { NotificationsService } from '../notifications/index.js';
import { ConsoleSessionGuard } from './console-session.guard.js';
import { ConsoleService } from './console.service.js';
import { ConsoleCustomersQuery, ConsoleEventsQuery, ConsolePushesQuery, ConsoleStatusDto, ConsoleTierDto } from './console.dto.js';

const PUSH_ID = /^\d{1,18}$/;
const DAY_MS = 86_400_000;
const MAX_EVENT_WINDOW_MS = 31 * DAY_MS;

/** The console page's JSON API: thin, every figure from the services the admin API uses. */
@ApiExcludeController()
@Public()
@UseGuards(ConsoleSessionGuard)
@Controller('console/api')
export class ConsoleApiController {
  constructor(
    @Inject(ConsoleService) private readonly console: ConsoleService,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(NotificationsService) private readonly notifications: NotificationsService,
    @Inject(PushOutbox) private readonly outbox: PushOutbox,
    @Inject(ReconciliationService) private readonly reconciliation: ReconciliationService,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(UsageSyncService) private readonly usageSync: UsageSyncService,
    @Inject(CatalogProvisioner) private readonly provisioner: CatalogProvisioner,
  ) {}

  @Get('overview')
  overview() {
    return this.console.overview();
  }

  @Get('customers')
  async customerList(@Query() query: ConsoleCustomersQuery) {
    return { data: await this.console.customerRows(query) };
  }

  @Get('customers/:customerId')
  customer(@Param('customerId') customerId: string) {
    return this.console.customerDetail(customerId);
  }

  @Patch('customers/:customerId/status')
  async setStatus(@Param('customerId') customerId: string, @Body() body: ConsoleStatusDto) {
    return this.customers.view(await this.customers.update(customerId, { status: body.status }));
  }

  /**
   * The tier in Tollgate, as `PATCH /v1/customers/:id` sets it. A customer billed through a Stripe subscription
   * changes plan in Stripe (`POST /v1/customers/:id/subscription`, prorated), never here: the two would disagree.
   */
  @Patch('customers/:customerId/tier')
  async setTier(@Param('customerId') customerId: string, @Body() body: ConsoleTierDto) {
    const customer = await this.customers.get(customerId);
    if (customer.stripeSubscriptionId) {
      throw new ConflictException({
        error: 'billed_through_stripe',
        message: `This customer pays through Stripe subscription ${customer.stripeSubscriptionId}: change its plan with POST /v1/customers/${customer.id}/subscription.`,
      });
    }
    return this.customers.view(await this.customers.update(customerId, { tier: body.tier }));
  }

  @Post('customers/:customerId/keys')
  createKey(@Param('customerId') customerId: string, @Body() body: CreateApiKeyDto) {
    return this.apiKeys.create(customerId, body);
  }

  @Patch('customers/:customerId/keys/:keyId')
  renameKey(@Param('customerId') customerId: string, @Param('keyId') keyId: string, @Body() body: UpdateApiKeyDto) {
    return this.apiKeys.update(customerId, keyId, requireChange(body));
  }

  @Post('customers/:customerId/keys/:keyId/rotate')
  rotateKey(@Param('customerId') customerId: string, @Param('keyId') keyId: string, @Body() body: RotateApiKeyDto) {
    return this.apiKeys.rotate(customerId, keyId, body.gracePeriodSeconds);
  }

  @Delete('customers/:customerId/keys/:keyId')
  @HttpCode(200)
  revokeKey(@Param('customerId') customerId: string, @Param('keyId') keyId: string) {
    return this.apiKeys.revoke(customerId, keyId);
  }

  @Post('customers/:customerId/notifications/:notificationId/redeliver')
  @HttpCode(200)
  redeliver(@Param('customerId') customerId: string, @Param('notificationId') notificationId: string) {
    return this.notifications.redeliver(customerId, notificationId);
  }

  @Get('pushes')
  async pushes(@Query() query: ConsolePushesQuery) {
    return { data: await this.outbox.recent(100, query.status) };
  }

  @Post('pushes/:pushId/retry')
  @HttpCode(200)
  async retryPush(@Param('pushId') pushId: string) {
    const push = PUSH_ID.test(pushId) ? await this.outbox.requestRetry(pushId) : null;
    if (!push) throw new NotFoundException({ error: 'not_found', message: 'No failed push with that id is waiting for a retry.' });
    return push;
  }

  @Get('events')
  async events(@Query() query: ConsoleEventsQuery) {
    const to = query.to ?? new Date();
    const from = query.from ?? new Date(to.getTime() - DAY_MS);
    if (from >= to || to.getTime() - from.getTime() > MAX_EVENT_WINDOW_MS) {
      throw validationFailed([{ field: 'from', problems: ['from must be before to, at most 31 days apart'] }]);
    }
    return { from: from.toISOString(), to: to.toISOString(), data: await this.ledger.latestEvents({ customerId: query.customerId, meter: query.meter, from, to, limit: 200 }) };
  }

  @Get('sync-runs')
  async syncRuns() {
    return { data: await this.usageSync.recentRuns(20) };
  }

  @Get('provisioning')
  provisioning() {
    return this.provisioner.state();
  }

  @Get('reconciliation')
  reconciliationReport() {
    return this.reconciliation.reconcile('current');
  }
}
