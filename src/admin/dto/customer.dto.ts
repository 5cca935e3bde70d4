import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
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
  Min,
  ValidateNested,
} from 'class-validator';

const RATE_LIMIT = /^\d[\d_]*\s*\/\s*\d*\s*(s|sec|second|m|min|minute|h|hr|hour|d|day)s?$/i;

export class CustomerOverridesDto {
  @ApiPropertyOptional({ description: 'Included calls per month (for `custom` tiers, or a per-customer deal)' })
  @IsOptional()
  @IsInt()
  @Min(0)
  includedCalls?: number;

  @ApiPropertyOptional({ type: [String], example: ['1000/min'] })
  @IsOptional()
  @ArrayMaxSize(5)
  @Matches(RATE_LIMIT, { each: true, message: 'each rate limit must look like "1000/min"' })
  rateLimit?: string[];

  @ApiPropertyOptional({ enum: ['block', 'throttle', 'overage'] })
  @IsOptional()
  @IsIn(['block', 'throttle', 'overage'])
  onQuotaExceeded?: 'block' | 'throttle' | 'overage';

  @ApiPropertyOptional({ description: 'Monthly base price as an exact decimal string', example: '1500.00' })
  @IsOptional()
  @IsNumberString({ no_symbols: false })
  @Matches(/^\d+(\.\d{1,2})?$/, { message: 'price must be an amount like "1500.00"' })
  price?: string;
}

export class CreateCustomerDto {
  @ApiProperty()
  @IsString()
  @Length(1, 200)
  name: string;

  @ApiProperty({ example: 'pro' })
  @IsString()
  tier: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsEmail()
  email?: string;

  @ApiPropertyOptional({ description: "Your own id for this customer (unique)" })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  externalId?: string;

  @ApiPropertyOptional({ type: CustomerOverridesDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => CustomerOverridesDto)
  overrides?: CustomerOverridesDto;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  webhookUrl?: string;
}

/** Every field of a new customer may change, except its external id; plus the status. */
export class UpdateCustomerDto extends PartialType(OmitType(CreateCustomerDto, ['externalId'] as const)) {
  @ApiPropertyOptional({ enum: ['active', 'suspended', 'past_due', 'canceled'] })
  @IsOptional()
  @IsIn(['active', 'suspended', 'past_due', 'canceled'])
  status?: 'active' | 'suspended' | 'past_due' | 'canceled';
}

export class ListCustomersQuery {
  @IsOptional()
  @IsString()
  tier?: string;

  @IsOptional()
  @IsIn(['active', 'suspended', 'past_due', 'canceled'])
  status?: 'active' | 'suspended' | 'past_due' | 'canceled';

  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @IsOptional()
  @IsString()
  cursor?: string;
}
