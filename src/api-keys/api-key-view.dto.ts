import { ApiProperty } from '@nestjs/swagger';
import { CONTROL_NAMES, type ControlName, REFILL_INTERVALS, type RefillInterval } from './key-controls.js';

export class UsageRefillDto {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'What `remaining` is set back to at each refill', example: 1000 })
  amount: number;

  @ApiProperty({ enum: REFILL_INTERVALS, description: 'Refilled at the start of each UTC day, ISO week (Monday) or month, on the first request after it' })
  interval: RefillInterval;
}

export class UsageCapDto {
  @ApiProperty({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Units the key may still spend; each admitted request spends its cost (429 usage_exceeded when it does not fit)', example: 1000 })
  remaining: number;

  @ApiProperty({ type: UsageRefillDto, nullable: true, description: 'null: never refilled' })
  refill: UsageRefillDto | null;
}

/** A key's controls as shown: null means not set. */
export class KeyControlsViewDto {
  @ApiProperty({ type: [String], nullable: true, example: ['10/min'], description: "The key's own rate limits, on top of its customer's (both must pass)" })
  rateLimit: string[] | null;

  @ApiProperty({ type: UsageCapDto, nullable: true })
  usageCap: UsageCapDto | null;

  @ApiProperty({ type: [String], nullable: true, example: ['203.0.113.0/24', '2001:db8::/32'], description: 'Client addresses (CIDRs) the key works from; others get 403 ip_not_allowed' })
  ipAllowlist: string[] | null;

  @ApiProperty({ type: [String], nullable: true, example: ['/v1/search/**'], description: "Path globs (tiers.yaml syntax) the key may call, within its tier's; others get 403 endpoint_not_allowed" })
  endpoints: string[] | null;

  @ApiProperty({ type: 'object', additionalProperties: true, nullable: true, example: { team: 'search' }, description: 'Free-form JSON (set by the operator), returned by the verify API' })
  metadata: Record<string, unknown> | null;
}

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

  @ApiProperty({ type: KeyControlsViewDto })
  controls: KeyControlsViewDto;

  @ApiProperty({ enum: CONTROL_NAMES, isArray: true, description: 'Controls the operator set: the key holder (/v1/me) cannot change or remove them' })
  lockedControls: ControlName[];
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
