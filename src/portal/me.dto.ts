import { ApiProperty, PickType } from '@nestjs/swagger';
import { CustomerDto } from '../customers/api.js';

/** The key a `/v1/me` call was made with. */
export class MeKeyDto {
  @ApiProperty()
  id: string;

  @ApiProperty({ example: 'tg_live_a1b2' })
  prefix: string;

  @ApiProperty({ enum: ['live', 'test'] })
  mode: 'live' | 'test';
}

/** The caller's own customer, as the operator sees it (same fields), plus its webhook and the key it called with. */
export class MeDto extends PickType(CustomerDto, ['id', 'name', 'email', 'tier', 'status', 'limits', 'currentPeriod'] as const) {
  @ApiProperty({ type: String, nullable: true })
  webhookUrl: string | null;

  @ApiProperty({ type: MeKeyDto })
  key: MeKeyDto;
}
