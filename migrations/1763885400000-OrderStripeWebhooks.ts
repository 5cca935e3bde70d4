import type { MigrationInterface, QueryRunner } from 'typeorm';

export class OrderStripeWebhooks1763885400000 implements MigrationInterface {
  name = 'OrderStripeWebhooks1763885400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Stripe does not deliver events in order: remembering each processed event's Stripe customer and creation
    // time lets a late, older subscription event be recognised and skipped instead of undoing a newer one.
    await queryRunner.query(`ALTER TABLE stripe_webhook_events ADD COLUMN stripe_customer_id text, ADD COLUMN event_created timestamptz`);
    await queryRunner.query(
      `CREATE INDEX stripe_webhook_events_customer_idx ON stripe_webhook_events (stripe_customer_id, event_created)
        WHERE stripe_customer_id IS NOT NULL`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX stripe_webhook_events_customer_idx`);
    await queryRunner.query(`ALTER TABLE stripe_webhook_events DROP COLUMN stripe_customer_id, DROP COLUMN event_created`);
  }
}
