import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsEmail,
  IsIn,
  IsInt,
  IsNumberString,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { IsOmittable } from '../../common/index.js';

// Unambiguous (spaces around "/" can only go one way), so it runs in linear time on a long hostile string.
const RATE_LIMIT = /^\d[\d_]*\s*\/\s*(?:\d+\s*)?(s|sec|second|m|min|minute|h|hr|hour|d|day)s?$/i;

export class CustomerOverridesDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Included calls per month (for `custom` tiers, or a per-customer deal)' })
  @IsOmittable()
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  includedCalls?: number;

  @ApiPropertyOptional({ type: [String], maxItems: 5, example: ['1000/min'], description: 'Each like "1000/min" (count / s, min, hour or day), at most 50 characters' })
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(5)
  @MaxLength(50, { each: true, message: 'each rate limit must be at most 50 characters' })
  @Matches(RATE_LIMIT, { each: true, message: 'each rate limit must look like "1000/min"' })
  rateLimit?: string[];

  @ApiPropertyOptional({ enum: ['block', 'throttle', 'overage'] })
  @IsOmittable()
  @IsIn(['block', 'throttle', 'overage'])
  onQuotaExceeded?: 'block' | 'throttle' | 'overage';

  @ApiPropertyOptional({ pattern: '^\\d{1,12}(\\.\\d{1,2})?$', description: 'Monthly base price as an exact decimal string', example: '1500.00' })
  @IsOmittable()
  @IsNumberString({ no_symbols: false })
  @Matches(/^\d{1,12}(\.\d{1,2})?$/, { message: 'price must be an amount like "1500.00"' })
  price?: string;
}

export class CreateCustomerDto {
  @ApiProperty({ minLength: 1, maxLength: 200 })
  @IsString()
  @Length(1, 200)
  name: string;

  @ApiProperty({ minLength: 1, maxLength: 100, example: 'pro', description: 'A tier of tiers.yaml' })
  @IsString()
  @Length(1, 100)
  tier: string;

  @ApiPropertyOptional({ type: String, format: 'email', nullable: true, description: 'null removes it (update)' })
  @IsOptional()
  @IsEmail()
  email?: string;

  @ApiPropertyOptional({ minLength: 1, maxLength: 200, description: 'Your own id for this customer (unique)' })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  externalId?: string;

  @ApiPropertyOptional({ type: CustomerOverridesDto })
  @IsOmittable()
  @ValidateNested()
  @Type(() => CustomerOverridesDto)
  overrides?: CustomerOverridesDto;

  @ApiPropertyOptional({ type: String, format: 'uri', nullable: true, description: 'http(s) URL for notifications; null removes it (update)' })
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  webhookUrl?: string;
}

/**
 * Every field of a new customer may change, except its external id; plus the status. Fields may be left out
 * but not set to null, except `email` and `webhookUrl`, where null removes them.
 */
export class UpdateCustomerDto extends PartialType(OmitType(CreateCustomerDto, ['externalId'] as const), { skipNullProperties: false }) {
  @ApiPropertyOptional({ enum: ['active', 'suspended', 'past_due', 'canceled'] })
  @IsOmittable()
  @IsIn(['active', 'suspended', 'past_due', 'canceled'])
  status?: 'active' | 'suspended' | 'past_due' | 'canceled';
}

export class ListCustomersQuery {
  @ApiPropertyOptional({ maxLength: 100, example: 'pro' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  tier?: string;

  @ApiPropertyOptional({ enum: ['active', 'suspended', 'past_due', 'canceled'] })
  @IsOptional()
  @IsIn(['active', 'suspended', 'past_due', 'canceled'])
  status?: 'active' | 'suspended' | 'past_due' | 'canceled';

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @ApiPropertyOptional({ maxLength: 100, description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  cursor?: string;
}
