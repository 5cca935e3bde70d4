import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import {
  KEY_PAGE_DEFAULT,
  KEY_PAGE_MAX,
  MAX_ALLOWLIST_ENTRIES,
  MAX_ENDPOINT_GLOB_LENGTH,
  MAX_KEY_ENDPOINTS,
  MAX_KEY_RATE_LIMITS,
  MAX_METADATA_BYTES,
  MAX_METADATA_DEPTH,
  REFILL_INTERVALS,
  type RefillInterval,
} from '../../api-keys/index.js';
import { IsIsoDateTime, IsOmittable, validationFailed } from '../../common/index.js';

const UNITS = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

export class UsageRefillInputDto {
  @ApiProperty({ ...UNITS, description: 'What `remaining` is set back to at each refill', example: 1000 })
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  amount!: number;

  @ApiProperty({ enum: REFILL_INTERVALS, description: 'At the start of each UTC day, ISO week (Monday) or month' })
  @IsIn(REFILL_INTERVALS)
  interval!: RefillInterval;
}

export class UsageCapInputDto {
  @ApiProperty({ ...UNITS, description: 'Units the key may spend (each admitted request spends its cost)', example: 1000 })
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  remaining!: number;

  @ApiPropertyOptional({ type: UsageRefillInputDto, nullable: true, description: 'Absent or null: never refilled' })
  @IsOptional()
  @ValidateNested()
  @Type(() => UsageRefillInputDto)
  refill?: UsageRefillInputDto | null;
}

/** Per-key controls to set: a field left out stays as it is (on create: not set); null removes it. */
export class KeyControlsInputDto {
  @ApiPropertyOptional({ type: [String], nullable: true, minItems: 1, maxItems: MAX_KEY_RATE_LIMITS, example: ['10/min'], description: 'The key\'s own limits ("<count>/<s|min|hour|day>"), charged on top of its customer\'s' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_KEY_RATE_LIMITS)
  @IsString({ each: true })
  @MaxLength(50, { each: true })
  rateLimit?: string[] | null;

  @ApiPropertyOptional({ type: UsageCapInputDto, nullable: true })
  @IsOptional()
  @ValidateNested()
  @Type(() => UsageCapInputDto)
  usageCap?: UsageCapInputDto | null;

  @ApiPropertyOptional({ type: [String], nullable: true, minItems: 1, maxItems: MAX_ALLOWLIST_ENTRIES, example: ['203.0.113.0/24', '2001:db8::/32'], description: 'IPv4 / IPv6 addresses or CIDRs the key works from' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ALLOWLIST_ENTRIES)
  @IsString({ each: true })
  @MaxLength(50, { each: true })
  ipAllowlist?: string[] | null;

  @ApiPropertyOptional({ type: [String], nullable: true, minItems: 1, maxItems: MAX_KEY_ENDPOINTS, example: ['/v1/search/**'], description: 'Path globs (tiers.yaml syntax: * one segment, ** any) the key may call, within its tier\'s' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_KEY_ENDPOINTS)
  @IsString({ each: true })
  @MaxLength(MAX_ENDPOINT_GLOB_LENGTH, { each: true })
  endpoints?: string[] | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    example: { team: 'search' },
    description: `Free-form JSON object, at most ${MAX_METADATA_BYTES} bytes and ${MAX_METADATA_DEPTH} levels deep; returned by the verify API. Operator only`,
  })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown> | null;
}

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

  @ApiPropertyOptional({ type: KeyControlsInputDto, description: 'Per-key controls (README: Per-key controls)' })
  @IsOmittable()
  @ValidateNested()
  @Type(() => KeyControlsInputDto)
  controls?: KeyControlsInputDto;
}

/** A new name and/or controls: at least one. */
export class UpdateApiKeyDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 100, pattern: '\\S', example: 'production' })
  @IsOmittable()
  @IsString()
  @Length(1, 100, { message: 'name must be 1 to 100 characters' })
  @Matches(/\S/, { message: 'name must not be blank' })
  name?: string;

  @ApiPropertyOptional({ type: KeyControlsInputDto, description: 'Controls to change: a field left out stays, null removes it' })
  @IsOmittable()
  @ValidateNested()
  @Type(() => KeyControlsInputDto)
  controls?: KeyControlsInputDto;
}

/** 400 when a PATCH changes nothing. */
export function requireChange(body: UpdateApiKeyDto): UpdateApiKeyDto {
  if (body.name !== undefined || body.controls !== undefined) return body;
  throw validationFailed([{ field: 'name', problems: ['give a name or controls to change'] }]);
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
