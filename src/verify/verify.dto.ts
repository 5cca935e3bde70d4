import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsInt, IsIP, IsString, Length, Matches, Min } from 'class-validator';
import { IsOmittable } from '../common/index.js';
import { IDEMPOTENCY_KEY } from '../metering/index.js';

/** A request path as a gateway forwards it: absolute, visible ASCII (percent-encoded), a query string allowed. */
export const REQUEST_PATH = /^\/[\x21-\x7e]*$/;
export const MAX_PATH_LENGTH = 2048;
/** An HTTP method token (GET, POST, PROPFIND…). */
export const REQUEST_METHOD = /^[A-Za-z]{1,20}$/;
export const METER_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export class VerifyKeyDto {
  @ApiProperty({ description: 'The API key the request presented (empty: none, answered invalid_api_key)', example: 'tg_live_…' })
  @IsString()
  @Length(0, 512)
  key!: string;

  @ApiProperty({ description: "The request's path; tiers.yaml's endpoint globs and costs apply to it (a query string is ignored)", example: '/v1/search' })
  @IsString()
  @Length(1, MAX_PATH_LENGTH)
  @Matches(REQUEST_PATH, { message: 'path must start with / and hold visible ASCII only (percent-encode the rest)' })
  path!: string;

  @ApiProperty({ example: 'GET' })
  @IsString()
  @Matches(REQUEST_METHOD, { message: 'method must be an HTTP method like GET' })
  method!: string;

  @ApiPropertyOptional({ description: "Units the request costs (default: the path's cost in tiers.yaml, else 1); checked like a @Metered cost", example: 1 })
  @IsOmittable()
  @IsInt()
  @Min(0)
  cost?: number;

  @ApiPropertyOptional({ description: 'The meter the quota and the usage event count on', default: 'api_calls', example: 'api_calls' })
  @IsOmittable()
  @IsString()
  @Matches(METER_NAME, { message: 'meter must be a meter name like api_calls' })
  meter?: string;

  @ApiPropertyOptional({ description: 'Like the Idempotency-Key header of a metered route: a retry is admitted and counted once', example: 'req-42' })
  @IsOmittable()
  @IsString()
  @Matches(IDEMPOTENCY_KEY, { message: 'idempotencyKey must be 1-255 visible ASCII characters' })
  idempotencyKey?: string;

  @ApiPropertyOptional({ description: 'Write the durable usage event; false decides (the rate limit is still charged) without recording usage', default: true })
  @IsOmittable()
  @IsBoolean()
  record?: boolean;

  @ApiPropertyOptional({ description: "The client's address as the gateway saw it (IPv4 or IPv6). A key with an IP allowlist is refused ip_not_allowed without it", example: '203.0.113.7', maxLength: 64 })
  @IsOmittable()
  @IsString()
  @Length(1, 64)
  @IsIP(undefined, { message: 'ip must be an IPv4 or IPv6 address' })
  ip?: string;
}

export class VerifyDecisionDto {
  @ApiProperty({ description: 'Serve the request' })
  valid!: boolean;

  @ApiProperty({ description: 'ok, or the error code a guarded route would answer', example: 'rate_limit_exceeded' })
  code!: string;

  @ApiProperty({ description: 'The status a guarded route would answer (200 when valid)', example: 429 })
  status!: number;

  @ApiPropertyOptional({ description: 'Why it is refused' })
  message?: string;

  @ApiProperty({ type: String, nullable: true, example: 'cus_123' })
  customerId!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'pro' })
  tier!: string | null;

  @ApiPropertyOptional({ description: 'Whole seconds before a retry can pass (also headers["Retry-After"])', example: 6 })
  retryAfter?: number;

  @ApiProperty({
    description: 'The headers to forward to the client: RateLimit, RateLimit-Policy, X-RateLimit-*, X-Quota-*, Retry-After, WWW-Authenticate',
    type: 'object',
    additionalProperties: { type: 'string' },
    example: { 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '99', 'X-Quota-Remaining': '49999' },
  })
  headers!: Record<string, string>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: "The key's metadata, as the operator set it (when the key is known and has some)", example: { team: 'search' } })
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, description: "Units left on the key's usage cap after this request (keys with a cap, when the request spent from it)", example: 9 })
  usageRemaining?: number;
}
