import { ApiProperty, ApiQuery } from '@nestjs/swagger';
import { PeriodDto } from '../common/api.js';

/** A usage quantity: a JSON number while ≤ 2^53 − 1, an exact decimal string beyond (`JsonQuantity`). */
export const QUANTITY_SCHEMA = { oneOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\d+$' }] };

/** `?period=`: "current" (the default) or a month, YYYY-MM (checked by `periodFromQuery`). */
export const ApiUsagePeriod = () =>
  ApiQuery({ name: 'period', required: false, description: '"current" (default) or a month, YYYY-MM', schema: { type: 'string', pattern: '^(current|\\d{4}-(0[1-9]|1[0-2]))$', default: 'current' } });

export class MeterUsageDto {
  @ApiProperty({ example: 'api_calls' })
  meter: string;

  @ApiProperty(QUANTITY_SCHEMA)
  total: number | string;

  @ApiProperty({ type: 'integer', nullable: true, description: 'Included units (null: the tier includes none of this meter)' })
  included: number | null;

  @ApiProperty({ oneOf: [{ type: 'integer', minimum: 0, nullable: true }, QUANTITY_SCHEMA.oneOf[1]], description: 'null: nothing is included' })
  remaining: number | string | null;

  @ApiProperty(QUANTITY_SCHEMA)
  overage: number | string;

  @ApiProperty({ type: 'number', nullable: true, description: 'Rounded to 2 decimals' })
  percentUsed: number | null;
}

export class DailyUsageDto {
  @ApiProperty({ format: 'date', example: '2026-11-23' })
  date: string;

  @ApiProperty({ example: 'api_calls' })
  meter: string;

  @ApiProperty(QUANTITY_SCHEMA)
  quantity: number | string;
}

export class UsageReportDto {
  @ApiProperty()
  customerId: string;

  @ApiProperty()
  tier: string;

  @ApiProperty({ type: PeriodDto })
  period: PeriodDto;

  @ApiProperty({ type: [MeterUsageDto] })
  meters: MeterUsageDto[];

  @ApiProperty({ type: [DailyUsageDto] })
  daily: DailyUsageDto[];
}
