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
}
