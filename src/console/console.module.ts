import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { BillingModule } from '../billing/index.js';
import { CustomersModule } from '../customers/index.js';
import { UsageModule } from '../metering/index.js';
import { NotificationsModule } from '../notifications/index.js';
import { TiersModule } from '../tiers/index.js';
import { ConsoleApiController } from './console-api.controller.js';
import { ConsoleAssets } from './console-assets.js';
import { ConsoleAuthController } from './console-auth.controller.js';
import { ConsoleHeadersMiddleware } from './console-headers.middleware.js';
import { ConsolePageController } from './console-page.controller.js';
import { ConsoleSignInRateLimitGuard } from './console-rate-limit.guard.js';
import { ConsoleSessionGuard } from './console-session.guard.js';
import { ConsoleSessionsService } from './console-sessions.service.js';
import { ConsoleService } from './console.service.js';

/** The operator console: the page at `/console` and its session-guarded JSON API under `/console/api`. */
@Module({
  imports: [CustomersModule, ApiKeysModule, UsageModule, NotificationsModule, BillingModule, TiersModule],
  controllers: [ConsolePageController, ConsoleAuthController, ConsoleApiController],
  providers: [ConsoleAssets, ConsoleSessionsService, ConsoleSessionGuard, ConsoleSignInRateLimitGuard, ConsoleService],
})
export class ConsoleModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(ConsoleHeadersMiddleware).forRoutes('console', 'console/*path');
  }
}
