import { ApiProperty } from '@nestjs/swagger';

/** A billing period: [start, end). */
export class PeriodDto {
  @ApiProperty({ format: 'date-time' })
  start: string;

  @ApiProperty({ format: 'date-time' })
  end: string;
}
