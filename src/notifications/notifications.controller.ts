import { Controller, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../admin/index.js';
import { Public } from '../common/index.js';
import { ApiErrors } from '../common/api.js';
import { NotificationDto, NotificationPageDto, WebhookSecretDto } from './notifications.dto.js';
import { NotificationsService } from './notifications.service.js';

@ApiTags('admin: notifications')
@ApiBearerAuth('admin')
@Public()
@UseGuards(AdminGuard)
@Controller('v1/customers/:customerId')
export class NotificationsController {
  constructor(@Inject(NotificationsService) private readonly notifications: NotificationsService) {}

  @Get('notifications')
  @ApiOperation({ summary: "A customer's notifications, newest first, with the state of each delivery" })
  @ApiOkResponse({ type: NotificationPageDto })
  @ApiErrors({ 404: ['customer_not_found'] })
  async list(@Param('customerId') customerId: string) {
    return { data: await this.notifications.list(customerId) };
  }

  @Post('notifications/:notificationId/redeliver')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send an undelivered (e.g. dead-lettered) notification again' })
  @ApiOkResponse({ type: NotificationDto, description: 'The notification, its deliveries queued again' })
  @ApiErrors({ 404: ['customer_not_found', 'notification_not_found'] })
  redeliver(@Param('customerId') customerId: string, @Param('notificationId') notificationId: string) {
    return this.notifications.redeliver(customerId, notificationId);
  }

  @Post('webhook-secret')
  @HttpCode(200)
  @ApiOperation({ summary: "Rotate the customer's webhook signing secret; the new one is shown once" })
  @ApiOkResponse({ type: WebhookSecretDto })
  @ApiErrors({ 404: ['customer_not_found'] })
  rotateSecret(@Param('customerId') customerId: string) {
    return this.notifications.rotateWebhookSecret(customerId);
  }
}
