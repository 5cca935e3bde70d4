import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class NotificationDeliveryDto {
  @ApiProperty({ example: 'webhook' })
  channel: string;

  @ApiProperty({ example: 'delivered' })
  status: string;

  @ApiProperty({ type: 'integer' })
  attempts: number;

  @ApiProperty({ type: String, nullable: true, description: 'A generic reason the customer may see' })
  lastError: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, description: "The raw error: in the operator's view only" })
  lastErrorDetail?: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  deliveredAt: string | null;
}

export class NotificationDto {
  @ApiProperty({ example: 'ntf_3kP8vR1mQ6zT' })
  id: string;

  @ApiProperty({ enum: ['customer', 'operator'] })
  audience: 'customer' | 'operator';

  @ApiProperty({ example: 'quota.threshold_reached' })
  kind: string;

  @ApiProperty()
  subject: string;

  @ApiProperty()
  message: string;

  @ApiProperty({ type: 'object', additionalProperties: true, description: 'What the webhook payload carries, by kind' })
  data: Record<string, unknown>;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ type: [NotificationDeliveryDto] })
  deliveries: NotificationDeliveryDto[];
}

export class NotificationPageDto {
  @ApiProperty({ type: [NotificationDto], description: 'Newest first' })
  data: NotificationDto[];
}

export class WebhookSecretDto {
  @ApiProperty({ description: 'The new signing secret: shown once' })
  secret: string;
}
