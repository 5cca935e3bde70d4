// The notifications module's HTTP API, for the billing service (`tollgate/service`) only: the library's surface is index.ts,
// which must not load controllers or OpenAPI schema classes (they bring @nestjs/swagger).
export { NotificationsApiModule } from './notifications-api.module.js';
export { NotificationDto, NotificationPageDto, WebhookSecretDto } from './notifications.dto.js';
