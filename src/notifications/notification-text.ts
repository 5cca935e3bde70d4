import type { ApiKeyRevokedEvent, ApiKeyRotatedEvent } from '../api-keys/index.js';
import type { DriftDetectedEvent } from '../billing/index.js';
import type { TierChangedEvent } from '../customers/index.js';
import type { UsageThresholdCrossedEvent } from '../metering/index.js';

export interface NotificationDraft {
  kind: string;
  /** With customer and kind, what makes this notification happen once. */
  dedupeKey: string;
  subject: string;
  message: string;
  data: Record<string, unknown>;
}

const noun = (meter: string) => (meter === 'api_calls' ? 'API calls' : meter.replace(/_/g, ' '));
const day = (date: Date) => date.toISOString().slice(0, 10);

/** The words a customer reads for each event; kept apart from delivery so they are easy to review. */
export const notificationText = {
  /** For the operator, not the customer: Stripe's meter disagrees with what Tollgate pushed. */
  drift(event: DriftDetectedEvent): NotificationDraft {
    const month = event.periodStart.toISOString().slice(0, 7);
    const sign = event.drift > 0 ? '+' : '';
    if (event.invoiceId) {
      // Found on a finalized invoice: that money is settled, the operator corrects it by hand (credit note or invoice item).
      return {
        kind: 'billing.drift_detected',
        dedupeKey: `invoice:${event.invoiceId}:${event.meter}`,
        subject: `Invoice ${event.invoiceId} for ${event.customerId}: ${noun(event.meter)} ${sign}${event.drift} not invoiced as recorded`,
        message:
          `Stripe finalized invoice ${event.invoiceId} for customer ${event.customerId} with ${event.stripeTotal} ${noun(event.meter)} for the ` +
          `period starting ${day(event.periodStart)}, but Tollgate recorded ${event.pushedTotal} (difference ${sign}${event.drift}). ` +
          `Usage that reaches Stripe after finalization lands on no invoice. See GET /v1/billing/reconciliation?period=${month}.`,
        data: { meter: event.meter, periodStart: event.periodStart.toISOString(), tollgateTotal: event.pushedTotal, invoicedQuantity: event.stripeTotal, drift: event.drift, invoiceId: event.invoiceId },
      };
    }
    return {
      kind: 'billing.drift_detected',
      // A new alert when the disagreement changes; the same one (once) while it stays as it is.
      // A push's own alert (failed, too old, after the invoice) is one per push and reason.
      dedupeKey: event.reason
        ? `${event.reason}:${event.identifier ?? ''}`
        : `${event.meter}:${event.periodStart.toISOString()}:${event.pushedTotal}:${event.stripeTotal}`,
      subject: `Billing drift for ${event.customerId}: ${noun(event.meter)} ${sign}${event.drift}${event.reason ? ` (${event.reason})` : ''}`,
      message: event.reason
        ? `${event.drift} ${noun(event.meter)} of customer ${event.customerId} in the period starting ${day(event.periodStart)} are not billed ` +
          `as they should be: ${event.detail ?? event.reason} (push ${event.identifier ?? '?'}). See GET /v1/billing/pushes?status=failed and ` +
          `GET /v1/billing/reconciliation?period=${month}.`
        : `Tollgate pushed ${event.pushedTotal} ${noun(event.meter)} for customer ${event.customerId} in the period starting ` +
          `${day(event.periodStart)}, but Stripe's meter shows ${event.stripeTotal} (drift ${sign}${event.drift}). ` +
          `See GET /v1/billing/reconciliation?period=${month}.`,
      data: {
        meter: event.meter,
        periodStart: event.periodStart.toISOString(),
        pushedTotal: event.pushedTotal,
        stripeTotal: event.stripeTotal,
        drift: event.drift,
        ...(event.reason && { reason: event.reason, identifier: event.identifier ?? null, detail: event.detail ?? null }),
      },
    };
  },

  threshold(event: UsageThresholdCrossedEvent, upgradeUrl: string): NotificationDraft {
    const period = `${event.meter}:${event.periodStart.toISOString()}:${event.threshold}`;
    const data = { meter: event.meter, threshold: event.threshold, total: event.total, included: event.included, periodEnd: event.periodEnd.toISOString() };
    if (event.threshold < 100) {
      return {
        kind: 'usage.threshold',
        dedupeKey: period,
        subject: `You have used ${event.threshold}% of your included ${noun(event.meter)}`,
        message: `You have used ${event.threshold}% of your included ${noun(event.meter)}.`,
        data,
      };
    }
    if (event.policy === 'block') {
      return {
        kind: 'usage.threshold',
        dedupeKey: period,
        subject: `Your included ${noun(event.meter)} are used up`,
        message:
          `You have used all ${event.included} included ${noun(event.meter)}. Requests are refused until the period resets on ` +
          `${day(event.periodEnd)} or you upgrade: ${upgradeUrl}`,
        data: { ...data, upgradeUrl },
      };
    }
    if (event.policy === 'throttle') {
      return {
        kind: 'usage.threshold',
        dedupeKey: period,
        subject: `You have exceeded your included ${noun(event.meter)}`,
        message: `You have exceeded your included ${event.included} ${noun(event.meter)}. Requests are slowed down until the period resets on ${day(event.periodEnd)} or you upgrade: ${upgradeUrl}`,
        data: { ...data, upgradeUrl },
      };
    }
    return {
      kind: 'usage.threshold',
      dedupeKey: period,
      subject: `You have exceeded your included ${noun(event.meter)} (${event.threshold}%)`,
      message: `You have exceeded your included ${event.included} ${noun(event.meter)}. Overage billing is active.`,
      data,
    };
  },

  tierChanged(event: TierChangedEvent): NotificationDraft {
    return {
      kind: 'tier.changed',
      dedupeKey: `${event.previousTier}>${event.tier}@${event.at.toISOString()}`,
      subject: `Your plan is now ${event.tier}`,
      message: `Your plan changed from ${event.previousTier} to ${event.tier}.`,
      data: { previousTier: event.previousTier, tier: event.tier },
    };
  },

  keyRotated(event: ApiKeyRotatedEvent): NotificationDraft {
    return {
      kind: 'api_key.rotated',
      dedupeKey: event.keyId,
      subject: 'An API key was rotated',
      message: `API key ${event.keyId} was rotated; the old secret stops working at ${event.oldKeyExpiresAt.toISOString()}.`,
      data: { keyId: event.keyId, newKeyId: event.newKeyId, oldKeyExpiresAt: event.oldKeyExpiresAt.toISOString() },
    };
  },

  keyRevoked(event: ApiKeyRevokedEvent): NotificationDraft {
    return {
      kind: 'api_key.revoked',
      dedupeKey: event.keyId,
      subject: 'An API key was revoked',
      message: `API key ${event.prefix}… (${event.keyId}) was revoked and no longer works.`,
      data: { keyId: event.keyId, prefix: event.prefix },
    };
  },
};
