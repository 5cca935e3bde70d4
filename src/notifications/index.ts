// The notifications module's public surface: other folders import only from here (enforced by the boundary lint).
export { NotificationsApiModule, NotificationsModule } from './notifications.module.js';
export { NotificationsService } from './notifications.service.js';
export { webhookUrlProblem } from './webhook-destination.js';
export { signWebhook, verifyWebhookSignature } from './webhook-signature.js';
