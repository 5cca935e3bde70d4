export const BILLING_USAGE_PUSHED = 'billing.usage_pushed';
export const BILLING_DRIFT_DETECTED = 'billing.drift_detected';

export interface UsagePushedEvent {
  customerId: string;
  meter: string;
  identifier: string;
  delta: number;
  toTotal: number;
  periodStart: Date;
}

export interface DriftDetectedEvent {
  customerId: string;
  meter: string;
  periodStart: Date;
  pushedTotal: number;
  stripeTotal: number;
  drift: number;
  /** Set when the disagreement was found on a finalized Stripe invoice (stripeTotal is then its metered quantity). */
  invoiceId?: string;
  /**
   * Why (absent: reconciliation found Stripe's total differs): `push_failed` (Stripe refused a push, synchronously or
   * in a meter error report), `too_old_for_stripe` (usage older than Stripe accepts), `after_invoice_finalized`
   * (usage of a period whose invoice was already final: it lands on no invoice).
   */
  reason?: 'push_failed' | 'too_old_for_stripe' | 'after_invoice_finalized';
  /** The push concerned and Stripe's words, when there is one. */
  identifier?: string;
  detail?: string;
}
