import type { MigrationInterface, QueryRunner } from 'typeorm';

export class BillingHistory1763886000000 implements MigrationInterface {
  name = 'BillingHistory1763886000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // What a customer's billing was, and since when: the invoice that closes a period depends on the tiers it
    // went through (Stripe bills each price's own segment), on whether the subscription renews, and on periods
    // a customer no longer has once it cancels. Rows are only ever added.
    //  - kind 'tier_change': Tollgate moved the Stripe subscription to another tier mid-period; `at` is Stripe's
    //    instant of the change, `closed_quantities` what Stripe's meters held for the segment that closed there
    //    (Stripe invoices that segment at the old price, from what it had processed by then).
    //  - kind 'snapshot': the customer's tier, subscription and period changed (webhooks, renewals, admin).
    await queryRunner.query(`
      CREATE TABLE billing_history (
        id bigserial PRIMARY KEY,
        customer_id text NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('tier_change', 'snapshot')),
        at timestamptz NOT NULL,
        previous_tier text,
        tier text NOT NULL,
        stripe_subscription_id text,
        period_start timestamptz,
        period_end timestamptz,
        closed_quantities jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX billing_history_customer_at ON billing_history (customer_id, at, id)`);
    // The Stripe period a subscription ended in (up to its end): usage that happened in it and arrives late,
    // inside the grace, still counts there and is pushed before the final invoice finalizes.
    await queryRunner.query(`ALTER TABLE customers ADD COLUMN ended_period_start timestamptz, ADD COLUMN ended_period_end timestamptz`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE customers DROP COLUMN ended_period_end, DROP COLUMN ended_period_start`);
    await queryRunner.query(`DROP TABLE billing_history`);
  }
}
