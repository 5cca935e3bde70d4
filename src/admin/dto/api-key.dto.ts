import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { IsIsoDateTime, IsOmittable } from '../../common/validation.js';

export class CreateApiKeyDto {
  @ApiPropertyOptional({ example: 'production' })
  @IsOmittable()
  @IsString()
  @Length(1, 100)
  name?: string;

  @ApiPropertyOptional({ enum: ['live', 'test'], default: 'live' })
  @IsOmittable()
  @IsIn(['live', 'test'])
  mode?: 'live' | 'test';

  @ApiPropertyOptional({ type: [String], example: ['ingest'] })
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(/^[a-z][a-z0-9_:.-]{0,49}$/, { each: true, message: 'each scope is a lower-case word like "ingest"' })
  scopes?: string[];

  @ApiPropertyOptional({ description: 'ISO-8601 time after which the key stops working (null or absent: never)', example: '2027-01-01T00:00:00Z' })
  @IsOptional()
  @IsIsoDateTime()
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
  @IsOmittable()
  @IsInt()
  @Min(0)
  @Max(30 * 86400)
  gracePeriodSeconds?: number;
}
