import type { MigrationInterface, QueryRunner } from 'typeorm';

export class OperatorNotifications1763885500000 implements MigrationInterface {
  name = 'OperatorNotifications1763885500000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Alerts about a customer that only the operator sees (billing drift): same outbox and exactly-once key,
    // delivered to the operator's address, never listed to the customer.
    await queryRunner.query(
      `ALTER TABLE notifications ADD COLUMN audience text NOT NULL DEFAULT 'customer' CHECK (audience IN ('customer', 'operator'))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE notifications DROP COLUMN audience`);
  }
}
