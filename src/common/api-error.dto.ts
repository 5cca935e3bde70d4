import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** One refused field of a 400 `validation_failed`. */
export class FieldProblemDto {
  @ApiProperty({ example: 'tier' })
  field: string;

  @ApiProperty({ type: [String], example: ['tier must be a string'] })
  problems: string[];
}

/**
 * The body of every error response (see ApiExceptionFilter): a snake_case code, a sentence, and details that
 * depend on the code. The OpenAPI document lists, per operation and status, the codes it can answer.
 */
export class ApiErrorDto {
  @ApiProperty({ description: 'Machine-readable code', pattern: '^[a-z][a-z0-9_]*$', example: 'validation_failed' })
  error: string;

  @ApiProperty({ description: 'What happened, in a sentence for people' })
  message: string;

  @ApiPropertyOptional({ type: [FieldProblemDto], description: '`validation_failed`: every refused field' })
  details?: FieldProblemDto[];

  @ApiPropertyOptional({ type: 'integer', description: 'Seconds to wait before retrying (429, 503): the same as `Retry-After`' })
  retryAfter?: number;

  @ApiPropertyOptional({
    oneOf: [{ type: 'integer' }, { type: 'string', pattern: '^\\d+$' }],
    description: '`rate_limit_exceeded`: requests allowed per window; `usage_limit_reached`: the most one counter holds (a decimal string past 2^53)',
  })
  limit?: number | string;

  @ApiPropertyOptional({ type: 'integer', description: '`rate_limit_exceeded`: the window of that limit' })
  windowSeconds?: number;

  @ApiPropertyOptional({ description: '`tier_required`: the lowest tier the endpoint is open to' })
  requiredTier?: string;

  @ApiPropertyOptional({ description: "`tier_required`: the caller's tier" })
  currentTier?: string;

  @ApiPropertyOptional({ description: "`rate_limit_exceeded` by a tier's limit: that tier" })
  tier?: string;

  @ApiPropertyOptional({ description: '`tier_required`, `quota_exceeded`, `rate_limit_exceeded`: where to upgrade' })
  upgradeUrl?: string;

  @ApiPropertyOptional({ description: '`scope_required`: the scope the key lacks' })
  requiredScope?: string;

  @ApiPropertyOptional({ description: '`quota_exceeded`, `usage_limit_reached`: the meter' })
  meter?: string;

  @ApiPropertyOptional({ type: 'integer', nullable: true, description: '`quota_exceeded`, `usage_limit_reached`: included units this period' })
  included?: number | null;

  @ApiPropertyOptional({
    oneOf: [{ type: 'integer' }, { type: 'string', pattern: '^\\d+$' }],
    description: '`quota_exceeded`, `usage_limit_reached`: units used this period (a decimal string past 2^53)',
  })
  used?: number | string;

  @ApiPropertyOptional({ format: 'date-time', description: '`quota_exceeded`, `usage_limit_reached`: when the period ends' })
  periodEnd?: string;
}
