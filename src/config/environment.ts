import { plainToInstance, Transform } from 'class-transformer';
import { IsBoolean, IsEmail, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, MinLength, ValidateBy, ValidateIf, validateSync } from 'class-validator';
import { BIGINT_MAX } from '../common/index.js';
import { ConfigError, ConfigErrors } from './config.errors.js';
import { parseRatePolicy } from './tier-catalog.js';

const toBoolean = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(String(value))) return true;
  if (/^(0|false|no|off)$/i.test(String(value))) return false;
  return value;
};
const toInteger = ({ value }: { value: unknown }) =>
  value === undefined || value === '' ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);
/** A rate like tiers.yaml's `rate_limit`: "60/min", "10/15min". */
const IsRatePolicy = () =>
  ValidateBy({
    name: 'isRatePolicy',
    validator: { validate: (value) => parseRatePolicy(value) !== null, defaultMessage: () => 'must be a rate like "60/min" (<count>/<sec|min|hour|day>)' },
  });

/** The service's environment variables, validated at start-up (see README's configuration table). */
export class EnvironmentVariables {
  @IsOptional()
  @Transform(toInteger)
  // class-validator checks the decorator nearest the property first: the type check goes last here.
  @Min(0, { message: 'must be a port number (0-65535)' })
  @Max(65535, { message: 'must be a port number (0-65535)' })
  @IsInt({ message: 'must be a whole number' })
  PORT?: number;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters' })
  ADMIN_TOKEN?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// connection string' })
  DATABASE_URL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'must be a plain lower-case schema name' })
  DATABASE_SCHEMA?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  TOLLGATE_DATA_DIR?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^rediss?:\/\/\S+$/, { message: 'must be a redis:// URL' })
  REDIS_URL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^[A-Za-z0-9_:-]{1,64}$/, { message: 'must be 1-64 letters, digits, "_", ":" or "-"' })
  REDIS_PREFIX?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  TOLLGATE_TIERS?: string;

  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  TOLLGATE_DEMO?: boolean;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^(sk|rk)_(test|live)_\w+$/, { message: 'must look like sk_test_… or sk_live_…' })
  STRIPE_SECRET_KEY?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^whsec_\w+$/, { message: 'must look like whsec_…' })
  STRIPE_WEBHOOK_SECRET?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^https?:\/\/[^/\s]+\/?$/, { message: 'must be a base URL like http://127.0.0.1:12111' })
  STRIPE_API_URL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^(@(hourly|daily|weekly|monthly)|(\S+\s+){4,5}\S+)$/, { message: 'must be a cron expression like "0 * * * *"' })
  TOLLGATE_SYNC_CRON?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^(@(hourly|daily|weekly|monthly)|(\S+\s+){4,5}\S+)$/, { message: 'must be a cron expression like "30 * * * *"' })
  TOLLGATE_RECONCILE_CRON?: string;

  @IsOptional()
  @Transform(toInteger)
  @Min(0, { message: 'must be at least 0' })
  @IsInt({ message: 'must be a whole number of units' })
  TOLLGATE_DRIFT_THRESHOLD?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(0, { message: 'must be at least 0 (ms)' })
  @Max(86_400_000, { message: 'must be at most 86400000 (ms, one day)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  STRIPE_SUMMARY_DELAY_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(0, { message: 'must be at least 0 (ms)' })
  @Max(259_200_000, { message: 'must be at most 259200000 (ms): Stripe allows a grace of up to 72 hours' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  STRIPE_FINALIZATION_GRACE_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(0, { message: 'must be at least 0 (ms)' })
  @Max(259_200_000, { message: 'must be at most 259200000 (ms)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(0, { message: 'must be at least 0 (ms)' })
  @Max(259_200_000, { message: 'must be at most 259200000 (ms)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  TOLLGATE_LATE_EVENT_GRACE_MS?: number;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^whsec_\w+$/, { message: 'must look like whsec_…' })
  STRIPE_EVENT_DESTINATION_SECRET?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsIn(['open', 'closed'], { message: 'must be "open" or "closed"' })
  RATE_LIMIT_FAILURE_MODE?: 'open' | 'closed';

  @IsOptional()
  @Transform(toInteger)
  @Min(100, { message: 'must be at least 100 (ms)' })
  @Max(60_000, { message: 'must be at most 60000 (ms)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  RATE_LIMIT_STORE_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1, { message: 'must be at least 1' })
  @Max(1000, { message: 'must be at most 1000' })
  @IsInt({ message: 'must be a whole number' })
  RATE_LIMIT_BREAKER_FAULTS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(100, { message: 'must be at least 100 (ms)' })
  @Max(600_000, { message: 'must be at most 600000 (ms)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  RATE_LIMIT_BREAKER_COOLDOWN_MS?: number;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsRatePolicy()
  RATE_LIMIT_ME?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsRatePolicy()
  RATE_LIMIT_PORTAL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsRatePolicy()
  RATE_LIMIT_PORTAL_SIGN_IN?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsIn(['durable', 'async'], { message: 'must be "durable" or "async"' })
  TOLLGATE_METERING_MODE?: 'durable' | 'async';

  @IsOptional()
  @Transform(toInteger)
  @Min(1, { message: 'must be a whole number from 1 to 9007199254740991' })
  @Max(Number.MAX_SAFE_INTEGER, { message: 'must be a whole number from 1 to 9007199254740991' })
  @IsInt({ message: 'must be a whole number' })
  TOLLGATE_MAX_EVENT_QUANTITY?: number;

  // Kept as a string: the cap may be past what a JavaScript number holds exactly (up to Postgres' bigint).
  @IsOptional()
  @Transform(emptyToUndefined)
  @ValidateBy({
    name: 'bigintColumnValue',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && /^[1-9]\d{0,18}$/.test(value) && BigInt(value) <= BIGINT_MAX,
      defaultMessage: () => `must be a whole number from 1 to ${BIGINT_MAX}`,
    },
  })
  TOLLGATE_MAX_COUNTER_TOTAL?: string;

  @IsOptional()
  @Transform(toInteger)
  @Min(1024, { message: 'must be at least 1024 (bytes)' })
  @Max(Number.MAX_SAFE_INTEGER, { message: 'must be a whole number of bytes' })
  @IsInt({ message: 'must be a whole number of bytes' })
  TOLLGATE_SPOOL_MAX_BYTES?: number;

  @IsOptional()
  @Transform(emptyToUndefined)
  @MinLength(32, { message: 'must be at least 32 characters' })
  TOLLGATE_ENCRYPTION_KEY?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^smtps?:\/\/\S+$/, { message: 'must be an smtp:// or smtps:// URL' })
  SMTP_URL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  EMAIL_FROM?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsEmail({}, { message: 'must be an email address' })
  OPERATOR_EMAIL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^https?:\/\/\S+$/, { message: 'must be an absolute http(s) URL' })
  OPERATOR_WEBHOOK_URL?: string;

  // Operator alerts are signed like customer webhooks; without a secret the receiver could not trust them.
  @ValidateIf((vars: EnvironmentVariables) => vars.OPERATOR_WEBHOOK_URL !== undefined || vars.OPERATOR_WEBHOOK_SECRET !== undefined)
  @Transform(emptyToUndefined)
  @IsString({ message: 'must be set when OPERATOR_WEBHOOK_URL is' })
  @MinLength(16, { message: 'must be at least 16 characters' })
  OPERATOR_WEBHOOK_SECRET?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^https?:\/\/\S+$/, { message: 'must be an absolute http(s) URL' })
  PUBLIC_URL?: string;

  @IsOptional()
  @Transform(toInteger)
  @Min(1, { message: 'must be between 1 and 100000' })
  @Max(100_000, { message: 'must be between 1 and 100000' })
  @IsInt({ message: 'must be a whole number' })
  TOLLGATE_MAX_KEYS_PER_CUSTOMER?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1024, { message: 'must be at least 1024 (bytes)' })
  @Max(64 * 1024 * 1024, { message: 'must be at most 67108864 (64 MiB)' })
  @IsInt({ message: 'must be a whole number of bytes' })
  TOLLGATE_BODY_LIMIT_BYTES?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1024, { message: 'must be at least 1024 (bytes)' })
  @Max(64 * 1024 * 1024, { message: 'must be at most 67108864 (64 MiB)' })
  @IsInt({ message: 'must be a whole number of bytes' })
  TOLLGATE_BULK_BODY_LIMIT_BYTES?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(2, { message: 'must be between 2 and 512' })
  @Max(512, { message: 'must be between 2 and 512' })
  @IsInt({ message: 'must be a whole number' })
  TOLLGATE_JSON_MAX_DEPTH?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1, { message: 'must be at least 1' })
  @IsInt({ message: 'must be a whole number' })
  TOLLGATE_JSON_MAX_WIDTH?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1000, { message: 'must be at least 1000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  HTTP_HEADERS_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1000, { message: 'must be at least 1000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  HTTP_REQUEST_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1000, { message: 'must be at least 1000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  HTTP_KEEP_ALIVE_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(0, { message: 'must be 0 or more (milliseconds)' })
  @Max(600_000, { message: 'must be at most 600000 (milliseconds)' })
  @IsInt({ message: 'must be a whole number of milliseconds' })
  HTTP_SHUTDOWN_GRACE_MS?: number;

  @IsOptional()
  @Transform(toInteger)
  @Min(1, { message: 'must be between 1 and 65535' })
  @Max(65_535, { message: 'must be between 1 and 65535' })
  @IsInt({ message: 'must be a whole number' })
  HTTP_LISTEN_BACKLOG?: number;
}

export const ENVIRONMENT_VARIABLE_NAMES = [
  'PORT',
  'ADMIN_TOKEN',
  'DATABASE_URL',
  'DATABASE_SCHEMA',
  'TOLLGATE_DATA_DIR',
  'REDIS_URL',
  'REDIS_PREFIX',
  'TOLLGATE_TIERS',
  'TOLLGATE_DEMO',
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'STRIPE_API_URL',
  'TOLLGATE_SYNC_CRON',
  'TOLLGATE_RECONCILE_CRON',
  'TOLLGATE_DRIFT_THRESHOLD',
  'STRIPE_SUMMARY_DELAY_MS',
  'STRIPE_FINALIZATION_GRACE_MS',
  'TOLLGATE_PERIOD_CLOSE_SYNC_DELAY_MS',
  'TOLLGATE_LATE_EVENT_GRACE_MS',
  'STRIPE_EVENT_DESTINATION_SECRET',
  'RATE_LIMIT_FAILURE_MODE',
  'RATE_LIMIT_STORE_TIMEOUT_MS',
  'RATE_LIMIT_BREAKER_FAULTS',
  'RATE_LIMIT_BREAKER_COOLDOWN_MS',
  'RATE_LIMIT_ME',
  'RATE_LIMIT_PORTAL',
  'RATE_LIMIT_PORTAL_SIGN_IN',
  'TOLLGATE_METERING_MODE',
  'TOLLGATE_MAX_EVENT_QUANTITY',
  'TOLLGATE_MAX_COUNTER_TOTAL',
  'TOLLGATE_SPOOL_MAX_BYTES',
  'TOLLGATE_ENCRYPTION_KEY',
  'SMTP_URL',
  'EMAIL_FROM',
  'OPERATOR_EMAIL',
  'OPERATOR_WEBHOOK_URL',
  'OPERATOR_WEBHOOK_SECRET',
  'LOG_LEVEL',
  'PUBLIC_URL',
  'TOLLGATE_MAX_KEYS_PER_CUSTOMER',
  'TOLLGATE_BODY_LIMIT_BYTES',
  'TOLLGATE_BULK_BODY_LIMIT_BYTES',
  'TOLLGATE_JSON_MAX_DEPTH',
  'TOLLGATE_JSON_MAX_WIDTH',
  'HTTP_HEADERS_TIMEOUT_MS',
  'HTTP_REQUEST_TIMEOUT_MS',
  'HTTP_KEEP_ALIVE_TIMEOUT_MS',
  'HTTP_SHUTDOWN_GRACE_MS',
  'HTTP_LISTEN_BACKLOG',
] as const satisfies readonly (keyof EnvironmentVariables)[];

export function validateEnvironment(env: Record<string, string | undefined>): EnvironmentVariables {
  // Only our own variable names reach validation, never the rest of the process environment.
  const known = Object.fromEntries(ENVIRONMENT_VARIABLE_NAMES.map((key) => [key, env[key]]));
  const variables = plainToInstance(EnvironmentVariables, known);
  const errors = validateSync(variables, { whitelist: true, forbidUnknownValues: false, stopAtFirstError: true });
  if (errors.length > 0) {
    throw new ConfigErrors(
      errors.map((error) => {
        const shown = /TOKEN|SECRET|KEY|URL/.test(error.property) ? '(value hidden)' : JSON.stringify(error.value);
        const problems = Object.values(error.constraints ?? {}).join('; ');
        return new ConfigError('environment', error.property, `${problems}, got ${shown}`);
      }),
    );
  }
  return variables;
}

