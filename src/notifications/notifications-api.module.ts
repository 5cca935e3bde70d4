import { Module } from '@nestjs/common';
import { NotificationsController } from './notifications.controller.js';
import { NotificationsModule } from './notifications.module.js';

/** The operator API for a customer's notifications (the service's API only, not mounted in a host app). */
@Module({
  imports: [NotificationsModule],
  controllers: [NotificationsController],
})
export class NotificationsApiModule {}
