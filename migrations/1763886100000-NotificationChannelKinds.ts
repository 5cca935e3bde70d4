import type { MigrationInterface, QueryRunner } from 'typeorm';

export class NotificationChannelKinds1763886100000 implements MigrationInterface {
  name = 'NotificationChannelKinds1763886100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // A host app registers its own notification channels (Slack, SMS, …): the kinds are its code's business, not a SQL
    // list. The column keeps a shape check only (the same rule the module checks at start-up).
    await queryRunner.query(`ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_channel_check`);
    await queryRunner.query(`ALTER TABLE outbox ADD CONSTRAINT outbox_channel_kind CHECK (channel ~ '^[a-z][a-z0-9_-]{0,39}$')`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    // Deliveries through a host's own channels cannot be kept under the old list.
    await queryRunner.query(`DELETE FROM outbox WHERE channel NOT IN ('webhook', 'email')`);
    await queryRunner.query(`ALTER TABLE outbox DROP CONSTRAINT outbox_channel_kind`);
    await queryRunner.query(`ALTER TABLE outbox ADD CONSTRAINT outbox_channel_check CHECK (channel IN ('webhook', 'email'))`);
  }
}
