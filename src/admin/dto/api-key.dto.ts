import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { KEY_PAGE_DEFAULT, KEY_PAGE_MAX } from '../../api-keys/index.js';
import { IsIsoDateTime, IsOmittable } from '../../common/index.js';

export const SCOPE_PATTERN = /^[a-z][a-z0-9_:.-]{0,49}$/;
export const SCOPE_MESSAGE = 'each scope is a lower-case word like "ingest"';

export class CreateApiKeyDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100, example: 'production', description: 'Default: default' })
  @IsOmittable()
  @IsString()
  @Length(1, 100)
  name?: string;

  @ApiPropertyOptional({ enum: ['live', 'test'], description: 'Default: live' })
  @IsOmittable()
  @IsIn(['live', 'test'])
  mode?: 'live' | 'test';

  @ApiPropertyOptional({ type: [String], maxItems: 20, example: ['ingest'], description: 'Each matching ^[a-z][a-z0-9_:.-]{0,49}$. The operator grants any; a key holder at most its own key\'s' })
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(SCOPE_PATTERN, { each: true, message: SCOPE_MESSAGE })
  scopes?: string[];

  @ApiPropertyOptional({ type: String, format: 'date-time', nullable: true, description: 'ISO-8601 time after which the key stops working (null or absent: never)', example: '2027-01-01T00:00:00Z' })
  @IsOptional()
  @IsIsoDateTime()
  expiresAt?: Date;
}

export class UpdateApiKeyDto {
  @ApiProperty({ minLength: 1, maxLength: 100, pattern: '\\S', example: 'production' })
  @IsString()
  @Length(1, 100, { message: 'name must be 1 to 100 characters' })
  @Matches(/\S/, { message: 'name must not be blank' })
  name!: string;
}

export class RotateApiKeyDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 30 * 86400, description: 'How long the old key keeps working, in seconds (default: 86400, 24 h)' })
  @IsOmittable()
  @IsInt()
  @Min(0)
  @Max(30 * 86400)
  gracePeriodSeconds?: number;
}

const LIMIT_MESSAGE = `limit must be a whole number from 1 to ${KEY_PAGE_MAX}`;

/** `?limit=&cursor=` of every key list (admin, /v1/me, portal): newest first. */
export class ListApiKeysQuery {
  @ApiPropertyOptional({ type: 'integer', default: KEY_PAGE_DEFAULT, minimum: 1, maximum: KEY_PAGE_MAX })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: LIMIT_MESSAGE })
  @Min(1, { message: LIMIT_MESSAGE })
  @Max(KEY_PAGE_MAX, { message: LIMIT_MESSAGE })
  limit?: number;

  @ApiPropertyOptional({ minLength: 1, maxLength: 100, description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  cursor?: string;
}
