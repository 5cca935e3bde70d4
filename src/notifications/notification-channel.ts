import { Inject } from '@nestjs/common';
import type { WebhookUrlSetBy } from './webhook-sender.js';

/** Who a notification is for: the customer (its webhook and email) or the operator running Tollgate. */
export type Audience = 'customer' | 'operator';

/** The customer a notification is about, as a channel sees it when choosing a target. */
export interface NotificationCustomer {
  id: string;
  externalId: string | null;
  name: string;
  email: string | null;
  tier: string;
  webhookUrl: string | null;
  webhookUrlSetBy: WebhookUrlSetBy;
}

/** What a channel is asked when a notification is recorded: where should this go? */
export interface NotificationRecipient {
  audience: Audience;
  /** The notification's kind, e.g. `usage.threshold`, `tier.changed`, `billing.drift`. */
  kind: string;
  customer: NotificationCustomer;
}

/** A delivery target; `setBy: 'customer'` (the default for a plain string is `'operator'`) holds a URL to public addresses. */
export interface NotificationTarget {
  target: string;
  setBy: WebhookUrlSetBy;
}

/** One attempt of one delivery, as the worker hands it to its channel. */
export interface NotificationDelivery {
  /** The notification's id: the same on every attempt and every channel, so receivers can dedupe. */
  notificationId: string;
  /** 1 on the first attempt. */
  attempt: number;
  target: string;
  targetSetBy: WebhookUrlSetBy;
  customerId: string;
  audience: Audience;
  kind: string;
  subject: string;
  message: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** Tools the worker lends a channel for an attempt. */
export interface ChannelContext {
  /**
   * One POST under the webhook channel's rules: a customer-set URL may only reach public addresses (resolved once,
   * connection pinned to the checked addresses), redirects are not followed, 10 s deadline, a non-2xx answer fails
   * the attempt with a `DeliveryFailure`.
   */
  post(url: string, setBy: WebhookUrlSetBy, headers: Record<string, string>, body: string): Promise<void>;
}

/**
 * A way to tell someone about a notification (webhook and email are built in). A host adds its own through
 * `MeteringModule.forRoot({ notificationChannels: [...] })`. Every delivery goes through the same outbox: written with
 * the notification (exactly once), claimed with a lease, retried with exponential backoff up to
 * `NOTIFICATION_MAX_ATTEMPTS`, then dead-lettered; admins and the portal list it and can redeliver it.
 */
export interface NotificationChannel {
  /** Stored with each delivery: lowercase letters, digits, `_` or `-`, at most 40; unique among the app's channels. */
  readonly kind: string;
  /** Where this notification goes on this channel (a string counts as set by the operator), or null to skip it. */
  target(recipient: NotificationRecipient): string | NotificationTarget | null | Promise<string | NotificationTarget | null>;
  /**
   * One delivery attempt: resolve when delivered, throw to have it retried (a `DeliveryFailure`'s `reason` is what the
   * customer sees; any other error shows as "delivery failed", its message kept for the operator).
   */
  deliver(delivery: NotificationDelivery, context: ChannelContext): Promise<void>;
  /** Called once at shutdown, after the last attempt in flight has settled. */
  close?(): void | Promise<void>;
}

/** Injects every channel of the app (built-in ones first), `NotificationChannel[]`. */
export const NotificationChannel = Symbol('NotificationChannel');
export const InjectNotificationChannels = () => Inject(NotificationChannel);

/** What a channel's kind may look like (stored as text; no SQL list of kinds). */
export const CHANNEL_KIND = /^[a-z][a-z0-9_-]{0,39}$/;

/** A host's own channels, from the module options (instances, or classes Nest builds with their dependencies). */
export const HOST_NOTIFICATION_CHANNELS = Symbol('tollgate.host-notification-channels');

/** Built-in channels first, then the host's; a kind that is malformed or taken twice stops the start. */
export function channelList(builtIn: NotificationChannel[], host: NotificationChannel[] = []): NotificationChannel[] {
  const channels = [...builtIn, ...host];
  const seen = new Set<string>();
  for (const channel of channels) {
    if (typeof channel.kind !== 'string' || !CHANNEL_KIND.test(channel.kind)) {
      throw new Error(`notification channel kind ${JSON.stringify(channel.kind)} is not valid: lowercase letters, digits, "_" or "-", at most 40, starting with a letter`);
    }
    if (seen.has(channel.kind)) throw new Error(`two notification channels have the kind "${channel.kind}": each kind must be unique`);
    seen.add(channel.kind);
  }
  return channels;
}
