import type { ChannelContext, NotificationChannel, NotificationDelivery, NotificationRecipient, NotificationTarget } from 'tollgate';

export interface SlackChannelOptions {
  /** The incoming-webhook URL Slack gave you (https://hooks.slack.com/services/…). */
  webhookUrl: string;
  /** Which notification kinds to post. Default: usage thresholds only (what a sales or support team acts on). */
  kinds?: string[];
  /**
   * Who set the URL: 'operator' (you, in your config: may point anywhere) or 'customer' (typed in by a customer: held
   * to the webhook channel's rules, public addresses only). Default 'operator'.
   */
  setBy?: NotificationTarget['setBy'];
  /** Stored with each delivery; change it to run two Slack channels side by side. Default 'slack'. */
  kind?: string;
}

/**
 * A third notification channel next to Tollgate's webhook and email: posts customers' notifications to a Slack
 * channel of yours through an incoming webhook. Tollgate writes its deliveries in the same outbox, retries them with
 * backoff, dead-letters them after the last attempt and lists them with the others.
 */
export class SlackChannel implements NotificationChannel {
  readonly kind: string;
  private readonly kinds: ReadonlySet<string>;

  constructor(private readonly options: SlackChannelOptions) {
    this.kind = options.kind ?? 'slack';
    this.kinds = new Set(options.kinds ?? ['usage.threshold']);
  }

  target(recipient: NotificationRecipient): NotificationTarget | null {
    if (recipient.audience !== 'customer' || !this.kinds.has(recipient.kind)) return null;
    return { target: this.options.webhookUrl, setBy: this.options.setBy ?? 'operator' };
  }

  async deliver(delivery: NotificationDelivery, context: ChannelContext): Promise<void> {
    // Slack's incoming webhooks take `{ text }` with mrkdwn; the notification id lets your team find it in Tollgate.
    const text = `*${delivery.subject}*\n${delivery.message}\n_customer ${delivery.customerId} · ${delivery.notificationId}_`;
    // The webhook channel's sender: no redirects, a deadline, non-2xx fails the attempt (and it is retried).
    await context.post(delivery.target, delivery.targetSetBy, { 'content-type': 'application/json', 'user-agent': 'Tollgate-Slack/1' }, JSON.stringify({ text }));
  }
}
