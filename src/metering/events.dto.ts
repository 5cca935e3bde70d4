import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export const MAX_EVENTS_PER_CALL = 1000;

/**
 * One usage event as documented. The server checks each on its own (EventsService): a bad one is answered
 * `rejected` with a reason in the results, not with a 400.
 */
export class IngestEventDto {
  @ApiPropertyOptional({ maxLength: 255, description: "The customer; a key holder's own by default (and at most)", example: 'cus_4fT9kQ2mX7aB' })
  customerId?: string;

  @ApiPropertyOptional({ maxLength: 255, description: 'A meter of tiers.yaml (default: api_calls)' })
  meter?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, description: 'Default 1; at most TOLLGATE_MAX_EVENT_QUANTITY; count meters count 1' })
  quantity?: number;

  @ApiPropertyOptional({ format: 'date-time', maxLength: 255, description: 'When it happened (default: now); its billing period must still be open' })
  timestamp?: string;

  @ApiProperty({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$', description: 'Deduplicates retries: the same key counts once', example: 'req-42' })
  idempotencyKey: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Free-form, up to 4 KB of JSON' })
  properties?: Record<string, unknown>;
}

export class IngestEventsDto {
  @ApiProperty({ type: [IngestEventDto], minItems: 1, maxItems: MAX_EVENTS_PER_CALL, description: `1 to ${MAX_EVENTS_PER_CALL} events` })
  events: IngestEventDto[];
}

export class EventResultDto {
  @ApiProperty({ type: 'integer', description: 'Position of the event in the request' })
  index: number;

  @ApiProperty({ type: String, nullable: true })
  idempotencyKey: string | null;

  @ApiProperty({ enum: ['accepted', 'duplicate', 'rejected'] })
  status: 'accepted' | 'duplicate' | 'rejected';

  @ApiPropertyOptional({ description: 'Why a rejected event was refused' })
  reason?: string;
}

export class IngestResultDto {
  @ApiProperty({ type: 'integer' })
  accepted: number;

  @ApiProperty({ type: 'integer' })
  duplicates: number;

  @ApiProperty({ type: 'integer' })
  rejected: number;

  @ApiProperty({ type: [EventResultDto], description: 'One per event, in request order' })
  results: EventResultDto[];
}
