import { type ArgumentMetadata, applyDecorators, BadRequestException, ValidationPipe, type ValidationError } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDate, ValidateIf, type ValidationOptions } from 'class-validator';
import { findTextProblem } from './text.js';

export interface FieldProblem {
  field: string;
  problems: string[];
}

function flatten(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, problems: Object.values(error.constraints) }] : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

export function validationFailed(details: FieldProblem[]): BadRequestException {
  return new BadRequestException({
    error: 'validation_failed',
    message: `Invalid request: ${details.map((detail) => detail.field).join(', ')}`,
    details,
  });
}

/** Bodies typed without a DTO class (`unknown`, an interface) are their handler's to check, item by item. */
const UNTYPED = new Set<unknown>([undefined, Object]);

/**
 * Strict DTO validation: unknown fields are refused, and a 400 lists every bad field. Before that, one rule
 * for every route: no path parameter, query value or DTO body holds a string Postgres cannot store (NUL,
 * unpaired surrogates), so none reaches a query and comes back as a 500.
 */
class TollgateValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const checked = metadata.type === 'param' || metadata.type === 'query' || (metadata.type === 'body' && !UNTYPED.has(metadata.metatype));
    const found = checked ? findTextProblem(value, metadata.data ?? '') : null;
    if (found) throw validationFailed([{ field: found.field || metadata.type, problems: [found.problem] }]);
    return super.transform(value, metadata);
  }
}

export function createValidationPipe(): ValidationPipe {
  return new TollgateValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    exceptionFactory: (errors) => validationFailed(flatten(errors)),
  });
}

/**
 * An optional field that, when present, must not be null (unlike `@IsOptional()`, which lets null through to
 * a NOT NULL column). For fields where null means "remove", use `@IsOptional()`.
 */
export function IsOmittable(options?: ValidationOptions): PropertyDecorator {
  return ValidateIf((_object: object, value: unknown) => value !== undefined, options);
}

/** `2027-01-01T00:00:00Z`, `2027-01-01T00:00:00.000+02:00`, `2027-01-01T00:00Z`: date, time, zone; a 4-digit year. */
const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/** A real instant from an ISO-8601 date-time in years 1970-9999 (no 5-digit or signed years, no Feb 30), else null. */
export function parseIsoDateTime(value: unknown): Date | null {
  if (typeof value !== 'string') return null;
  const match = ISO_DATE_TIME.exec(value);
  if (!match) return null;
  const [, year, month, day, hour, minute, second = '0', zoneHour = '0', zoneMinute = '0'] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number);
  if (y < 1970 || Number(zoneHour) > 23 || Number(zoneMinute) > 59) return null;
  // Date.UTC rolls 2027-02-30 over to March: a calendar date is valid only if it comes back unchanged.
  const calendar = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (calendar.getUTCMonth() !== mo - 1 || calendar.getUTCDate() !== d || calendar.getUTCHours() !== h || calendar.getUTCMinutes() !== mi || calendar.getUTCSeconds() !== s) {
    return null;
  }
  const instant = new Date(value);
  return Number.isNaN(instant.getTime()) ? null : instant;
}

/** A date-time field: an ISO-8601 string (see parseIsoDateTime) becomes a Date; anything else is refused naming the field. */
export function IsIsoDateTime(): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) => parseIsoDateTime(value) ?? value, { toClassOnly: true }),
    IsDate({ message: ({ property }) => `${property} must be an ISO-8601 date-time like 2027-01-01T00:00:00Z (years 1970-9999)` }),
  );
}
