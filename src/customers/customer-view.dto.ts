import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PeriodDto } from '../common/api.js';
import { RatePolicyDto } from '../tiers/api.js';

/** A customer's overrides as stored (see CustomerOverrides): only the fields that were set. */
export class CustomerOverridesViewDto {
  @ApiPropertyOptional({ type: 'integer' })
  includedCalls?: number;

  @ApiPropertyOptional({ type: [String], example: ['1000/min'] })
  rateLimit?: string[];

  @ApiPropertyOptional({ enum: ['block', 'throttle', 'overage'] })
  onQuotaExceeded?: 'block' | 'throttle' | 'overage';

  @ApiPropertyOptional({ description: 'Exact decimal', example: '1500.00' })
  price?: string;
}

/** What a customer actually gets: its tier's values with `custom` ones (and overrides) filled in. */
export class EffectiveLimitsDto {
  @ApiProperty({ type: 'integer' })
  includedCalls: number;

  @ApiProperty({ type: [RatePolicyDto] })
  rateLimits: RatePolicyDto[];

  @ApiProperty({ enum: ['block', 'throttle', 'overage'] })
  onQuotaExceeded: 'block' | 'throttle' | 'overage';
}

export class CustomerDto {
  @ApiProperty({ example: 'cus_4fT9kQ2mX7aB' })
  id: string;

  @ApiProperty({ type: String, nullable: true })
  externalId: string | null;

  @ApiProperty()
  name: string;

  @ApiProperty({ type: String, nullable: true })
  email: string | null;

  @ApiProperty({ example: 'pro' })
  tier: string;

  @ApiProperty({ enum: ['active', 'suspended', 'past_due', 'canceled'] })
  status: string;

  @ApiProperty({ type: CustomerOverridesViewDto })
  overrides: CustomerOverridesViewDto;

  @ApiProperty({ type: EffectiveLimitsDto })
  limits: EffectiveLimitsDto;

  @ApiProperty({ type: String, nullable: true })
  stripeCustomerId: string | null;

  @ApiProperty({ type: String, nullable: true })
  stripeSubscriptionId: string | null;

  @ApiProperty({ type: PeriodDto, nullable: true, description: 'The billing period now (null before the first request is metered)' })
  currentPeriod: PeriodDto | null;

  @ApiProperty({ type: String, nullable: true })
  webhookUrl: string | null;

  @ApiProperty({ enum: ['operator', 'customer'], description: '"customer" when set in the portal: such a URL may only reach public addresses' })
  webhookUrlSetBy: 'operator' | 'customer';

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ format: 'date-time' })
  updatedAt: string;
}

export class CustomerPageDto {
  @ApiProperty({ type: [CustomerDto] })
  data: CustomerDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as ?cursor= for the next page; null on the last' })
  nextCursor: string | null;
}
