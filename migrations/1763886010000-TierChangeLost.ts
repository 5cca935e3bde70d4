import type { MigrationInterface, QueryRunner } from 'typeorm';

export class TierChangeLost1763886010000 implements MigrationInterface {
  name = 'TierChangeLost1763886010000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Per meter, what Tollgate had pushed into a segment a tier change closed beyond what Stripe billed for it
    // (stamped before the change, not processed by Stripe by then): on no invoice, and alerted.
    await queryRunner.query(`ALTER TABLE billing_history ADD COLUMN lost_quantities jsonb`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE billing_history DROP COLUMN lost_quantities`);
  }
}
