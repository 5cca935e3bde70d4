import type { MigrationInterface, QueryRunner } from 'typeorm';

export class WebhookUrlSetBy1763885612000 implements MigrationInterface {
  name = 'WebhookUrlSetBy1763885612000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Who set a customer's webhook URL decides where it may point: the operator's may reach internal hosts, a
    // customer's only public addresses. URLs stored before this was recorded count as the customer's (the safe side).
    await queryRunner.query(
      `ALTER TABLE customers ADD COLUMN webhook_url_set_by text NOT NULL DEFAULT 'customer' CHECK (webhook_url_set_by IN ('operator', 'customer'))`,
    );
    // Each delivery keeps the origin of the target it was written with (the URL may change while it is pending).
    await queryRunner.query(
      `ALTER TABLE outbox ADD COLUMN target_set_by text NOT NULL DEFAULT 'customer' CHECK (target_set_by IN ('operator', 'customer'))`,
    );
    await queryRunner.query(
      `UPDATE outbox o SET target_set_by = 'operator' FROM notifications n WHERE n.id = o.notification_id AND (n.audience = 'operator' OR o.channel = 'email')`,
    );
    // last_error is shown to the customer and stays generic; the raw error is kept for the operator only.
    await queryRunner.query(`ALTER TABLE outbox ADD COLUMN last_error_detail text`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE outbox DROP COLUMN last_error_detail`);
    await queryRunner.query(`ALTER TABLE outbox DROP COLUMN target_set_by`);
    await queryRunner.query(`ALTER TABLE customers DROP COLUMN webhook_url_set_by`);
  }
}
