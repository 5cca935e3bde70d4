// The notifications module's public surface: other folders import only from here (enforced by the boundary lint).
export { NotificationsModule } from './notifications.module.js';
export { NotificationsService } from './notifications.service.js';
export { webhookUrlProblem } from './webhook-destination.js';
export { signWebhook, verifyWebhookSignature } from './webhook-signature.js';
export {
  type Audience,
  type ChannelContext,
  HOST_NOTIFICATION_CHANNELS,
  InjectNotificationChannels,
  NotificationChannel,
  type NotificationCustomer,
  type NotificationDelivery,
  type NotificationRecipient,
  type NotificationTarget,
} from './notification-channel.js';
export { DeliveryFailure, type WebhookUrlSetBy } from './webhook-sender.js';
