import { Body, Controller, Delete, Get, HttpCode, Inject, NotFoundException, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { RotateApiKeyDto } from '../admin/index.js';
import { ApiKeysService } from '../api-keys/index.js';
import { PushOutbox, ReconciliationService } from '../billing/index.js';
import { Public } from '../common/index.js';
import { CustomersService } from '../customers/index.js';
import { NotificationsService } from '../notifications/index.js';
import { ConsoleSessionGuard } from './console-session.guard.js';
import { ConsoleService } from './console.service.js';
import { ConsoleCustomersQuery, ConsolePushesQuery, ConsoleStatusDto } from './console.dto.js';

const PUSH_ID = /^\d{1,18}$/;

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

  @Get('reconciliation')
  reconciliationReport() {
    return this.reconciliation.reconcile('current');
  }
}
