import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsDate, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';

export class CreateApiKeyDto {
  @ApiPropertyOptional({ example: 'production' })
  @IsOptional()
  @IsString()
  @Length(1, 100)
  name?: string;

  @ApiPropertyOptional({ enum: ['live', 'test'], default: 'live' })
  @IsOptional()
  @IsIn(['live', 'test'])
  mode?: 'live' | 'test';

  @ApiPropertyOptional({ type: [String], example: ['ingest'] })
  @IsOptional()
  @ArrayMaxSize(20)
  @Matches(/^[a-z][a-z0-9_:.-]{0,49}$/, { each: true, message: 'each scope is a lower-case word like "ingest"' })
  scopes?: string[];

  @ApiPropertyOptional({ description: 'ISO-8601 time after which the key stops working' })
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'expiresAt must be an ISO-8601 date-time' })
  expiresAt?: Date;
}

export class UpdateApiKeyDto {
  @ApiProperty({ example: 'production' })
  @IsString()
  @Length(1, 100, { message: 'name must be 1 to 100 characters' })
  @Matches(/\S/, { message: 'name must not be blank' })
  name!: string;
}

export class RotateApiKeyDto {
  @ApiPropertyOptional({ description: 'How long the old key keeps working, in seconds', default: 86400 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(30 * 86400)
  gracePeriodSeconds?: number;
}
