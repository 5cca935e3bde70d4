import { ApiProperty } from '@nestjs/swagger';

export class RatePolicyDto {
  @ApiProperty({ type: 'integer', example: 100 })
  limit: number;

  @ApiProperty({ type: 'integer', example: 60 })
  windowSeconds: number;
}

/** `custom`: the value comes from each customer's overrides (an enterprise deal). */
const CUSTOM_SCHEMA = { type: 'string', enum: ['custom'] };

export class TierPriceDto {
  @ApiProperty({ description: 'Exact decimal, major units', example: '49.00' })
  amount: string;

  @ApiProperty({ type: 'integer', example: 4900 })
  amountMinor: number;

  @ApiProperty({ example: 'usd' })
  currency: string;

  @ApiProperty({ enum: ['month', 'year'] })
  interval: 'month' | 'year';
}

export class OverageBandDto {
  @ApiProperty({ type: 'integer', nullable: true, description: 'Upper bound of overage units in this band; null: unbounded' })
  upTo: number | null;

  @ApiProperty({ description: 'Exact decimal' })
  unitPrice: string;

  @ApiProperty({ description: 'Exact decimal' })
  flatFee: string;
}

export class OveragePricingDto {
  @ApiProperty({ enum: ['per_unit', 'graduated', 'volume'] })
  mode: 'per_unit' | 'graduated' | 'volume';

  @ApiProperty()
  currency: string;

  @ApiProperty({ example: 'call' })
  unit: string;

  @ApiProperty({ type: String, nullable: true, description: 'Per-unit price, exact decimal (per_unit mode)', example: '0.002' })
  unitPrice: string | null;

  @ApiProperty({ type: [OverageBandDto] })
  bands: OverageBandDto[];
}

export class TierMeterDto {
  @ApiProperty({ oneOf: [{ type: 'integer' }, CUSTOM_SCHEMA] })
  included: number | 'custom';

  @ApiProperty({ type: OveragePricingDto, nullable: true })
  overage: OveragePricingDto | null;
}

export class TierDto {
  @ApiProperty({ example: 'pro' })
  name: string;

  @ApiProperty({ type: 'integer', description: 'A higher rank includes everything a lower one does' })
  rank: number;

  @ApiProperty({ oneOf: [{ $ref: '#/components/schemas/TierPriceDto' }, CUSTOM_SCHEMA] })
  price: TierPriceDto | 'custom';

  @ApiProperty({ oneOf: [{ type: 'integer' }, CUSTOM_SCHEMA] })
  includedCalls: number | 'custom';

  @ApiProperty({ enum: ['month'] })
  quotaPeriod: 'month';

  @ApiProperty({ oneOf: [{ type: 'array', items: { $ref: '#/components/schemas/RatePolicyDto' } }, CUSTOM_SCHEMA] })
  rateLimits: RatePolicyDto[] | 'custom';

  @ApiProperty({ type: [String], description: 'Path globs this tier opens', example: ['/v1/basic/*'] })
  endpoints: string[];

  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' }, description: 'Cost per request by path glob' })
  endpointCosts: Record<string, number>;

  @ApiProperty({ type: String, nullable: true })
  support: string | null;

  @ApiProperty({ type: 'number', nullable: true, description: 'Uptime promise, percent' })
  sla: number | null;

  @ApiProperty({ type: OveragePricingDto, nullable: true })
  overage: OveragePricingDto | null;

  @ApiProperty({ enum: ['block', 'throttle', 'overage'] })
  onQuotaExceeded: 'block' | 'throttle' | 'overage';

  @ApiProperty({ type: [Number], description: 'Percent of the quota at which the customer is notified' })
  alertThresholds: number[];

  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/TierMeterDto' }, description: 'Quota and pricing per meter' })
  meters: Record<string, TierMeterDto>;
}

export class MeterDefinitionDto {
  @ApiProperty({ example: 'api_calls' })
  name: string;

  @ApiProperty({ enum: ['sum', 'count'] })
  aggregation: 'sum' | 'count';

  @ApiProperty({ example: 'call' })
  unit: string;
}

export class TierCatalogDto {
  @ApiProperty({ type: [TierDto], description: 'Ascending' })
  tiers: TierDto[];

  @ApiProperty({ type: [MeterDefinitionDto] })
  meters: MeterDefinitionDto[];

  @ApiProperty({ example: '/portal#upgrade' })
  upgradeUrl: string;
}
