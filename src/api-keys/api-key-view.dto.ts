import { ApiProperty } from '@nestjs/swagger';

export class ApiKeyDto {
  @ApiProperty({ example: 'key_8hR2nW5pL3sD' })
  id: string;

  @ApiProperty()
  customerId: string;

  @ApiProperty()
  name: string;

  @ApiProperty({ description: 'The first characters of the secret, to recognise it', example: 'tg_live_a1b2' })
  prefix: string;

  @ApiProperty({ enum: ['live', 'test'] })
  mode: 'live' | 'test';

  @ApiProperty({ type: [String] })
  scopes: string[];

  @ApiProperty({ enum: ['active', 'expired', 'revoked'] })
  status: 'active' | 'expired' | 'revoked';

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  lastUsedAt: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  expiresAt: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revokedAt: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The key that replaced this one (rotation)' })
  replacedBy: string | null;
}

/** A new key (created or rotated): the secret is in this answer only. */
export class IssuedKeyDto {
  @ApiProperty({ type: ApiKeyDto })
  key: ApiKeyDto;

  @ApiProperty({ description: 'The API key itself: shown once, never stored', example: 'tg_live_a1b2c3d4e5f6…' })
  secret: string;
}

export class ApiKeyPageDto {
  @ApiProperty({ type: [ApiKeyDto] })
  data: ApiKeyDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as ?cursor= for the next page; null on the last' })
  nextCursor: string | null;
}
