import { Module } from '@nestjs/common';
import { EventsController } from './events.controller.js';
import { UsageController } from './usage.controller.js';
import { UsageModule } from './usage.module.js';

/** Usage ingest (`POST /v1/events`) and usage reports over HTTP (the service's API only, not mounted in a host app). */
@Module({
  imports: [UsageModule],
  controllers: [EventsController, UsageController],
})
export class UsageApiModule {}
