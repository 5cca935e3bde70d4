import { ApiProperty } from '@nestjs/swagger';
import { PeriodDto } from '../common/api.js';
import { EffectiveLimitsDto } from '../customers/api.js';

/** The key a `/v1/me` call was made with. */
export class MeKeyDto {
  @ApiProperty()
  id: string;

  @ApiProperty({ example: 'tg_live_a1b2' })
  prefix: string;

  @ApiProperty({ enum: ['live', 'test'] })
  mode: 'live' | 'test';
}

export class MeDto {
  @ApiProperty()
  id: string;

  @ApiProperty()
  name: string;

  @ApiProperty({ type: String, nullable: true })
  email: string | null;

  @ApiProperty({ example: 'pro' })
  tier: string;

  @ApiProperty({ enum: ['active', 'suspended', 'past_due', 'canceled'] })
  status: string;

  @ApiProperty({ type: EffectiveLimitsDto })
  limits: EffectiveLimitsDto;

  @ApiProperty({ type: PeriodDto, nullable: true })
  currentPeriod: PeriodDto | null;

  @ApiProperty({ type: String, nullable: true })
  webhookUrl: string | null;

  @ApiProperty({ type: MeKeyDto })
  key: MeKeyDto;
}
