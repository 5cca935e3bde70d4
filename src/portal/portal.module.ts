import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { BillingModule } from '../billing/index.js';
import { CustomersModule } from '../customers/index.js';
import { UsageModule } from '../metering/index.js';
import { NotificationsModule } from '../notifications/index.js';
import { TiersModule } from '../tiers/index.js';
import { MeController } from './me.controller.js';
import { PortalApiController } from './portal-api.controller.js';
import { PortalAssets } from './portal-assets.js';
import { PortalAuthController } from './portal-auth.controller.js';
import { PortalHeadersMiddleware } from './portal-headers.middleware.js';
import { PortalMailer } from './portal-mailer.js';
import { PortalPageController } from './portal-page.controller.js';
import { PortalSessionGuard } from './portal-session.guard.js';
import { PortalSessionsService } from './portal-sessions.service.js';

/**
 * The developer portal: the web page at `/portal` (sessions by API key or emailed link, CSRF-protected JSON API
 * under `/portal/api`) and the key holder's JSON API (`/v1/me`).
 */
@Module({
  imports: [CustomersModule, ApiKeysModule, UsageModule, NotificationsModule, BillingModule, TiersModule],
  controllers: [MeController, PortalPageController, PortalAuthController, PortalApiController],
  providers: [PortalAssets, PortalSessionsService, PortalSessionGuard, PortalMailer],
})
export class PortalModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(PortalHeadersMiddleware).forRoutes('portal', 'portal/*path');
  }
}
