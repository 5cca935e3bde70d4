import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type CustomerStatus = 'active' | 'suspended' | 'past_due' | 'canceled';

/** Who set a customer's webhook URL: the operator's may reach internal hosts, a customer's only public addresses. */
export type WebhookUrlSetBy = 'operator' | 'customer';

/** Statuses whose keys (and portal sessions) are refused. `past_due` keeps working: see the dunning policy. */
export const BLOCKED_CUSTOMER_STATUSES: ReadonlySet<CustomerStatus> = new Set<CustomerStatus>(['suspended', 'canceled']);

/** Per-customer values for a tier's `custom` fields (enterprise deals), or overrides of the tier's values. */
export interface CustomerOverrides {
  includedCalls?: number;
  rateLimit?: string[];
  onQuotaExceeded?: 'block' | 'throttle' | 'overage';
  /** Monthly base price, exact decimal string. */
  price?: string;
}

/** The customer's Stripe billing period when subscribed; usage periods follow it (else calendar months). */
export function billingAnchor(customer: Pick<CustomerEntity, 'periodStart' | 'periodEnd'>): { start: Date; end: Date } | null {
  return customer.periodStart && customer.periodEnd ? { start: customer.periodStart, end: customer.periodEnd } : null;
}

/** The Stripe period the customer's last subscription ended in (cut at the moment it ended), if any. */
export function endedPeriod(customer: Pick<CustomerEntity, 'endedPeriodStart' | 'endedPeriodEnd'>): { start: Date; end: Date } | null {
  return customer.endedPeriodStart && customer.endedPeriodEnd ? { start: customer.endedPeriodStart, end: customer.endedPeriodEnd } : null;
}

@Entity({ name: 'customers' })
export class CustomerEntity {
  @PrimaryColumn('text')
  id: string;

  @Column('text', { name: 'external_id', nullable: true })
  externalId: string | null;

  @Column('text')
  name: string;

  @Column('text', { nullable: true })
  email: string | null;

  @Column('text')
  tier: string;

  @Column('text')
  status: CustomerStatus;

  @Column('jsonb')
  overrides: CustomerOverrides;

  @Column('text', { name: 'stripe_customer_id', nullable: true })
  stripeCustomerId: string | null;

  @Column('text', { name: 'stripe_subscription_id', nullable: true })
  stripeSubscriptionId: string | null;

  @Column('timestamptz', { name: 'period_start', nullable: true })
  periodStart: Date | null;

  @Column('timestamptz', { name: 'period_end', nullable: true })
  periodEnd: Date | null;

  /** The Stripe period the last subscription ended in, up to its end (late usage of it still counts there). */
  @Column('timestamptz', { name: 'ended_period_start', nullable: true })
  endedPeriodStart: Date | null;

  @Column('timestamptz', { name: 'ended_period_end', nullable: true })
  endedPeriodEnd: Date | null;

  @Column('text', { name: 'webhook_url', nullable: true })
  webhookUrl: string | null;

  @Column('text', { name: 'webhook_url_set_by', default: 'customer' })
  webhookUrlSetBy: WebhookUrlSetBy;

  /** Never selected by default: only the notifications module reads it, to sign webhooks. */
  @Column('text', { name: 'webhook_secret_encrypted', nullable: true, select: false })
  webhookSecretEncrypted: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt: Date;
}
