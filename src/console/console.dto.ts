import { IsIn, IsString, Length, Matches } from 'class-validator';
import { IsIsoDateTime, IsOmittable } from '../common/index.js';
import type { CustomerStatus } from '../customers/index.js';

export class ConsoleSignInDto {
  @IsString()
  @Length(1, 500)
  token: string;
}

const STATUSES: CustomerStatus[] = ['active', 'suspended', 'past_due', 'canceled'];
const PUSH_STATUSES = ['pending', 'sent', 'failed', 'dry_run'] as const;

export class ConsoleCustomersQuery {
  @IsOmittable()
  @IsString()
  @Length(0, 200)
  q?: string;

  @IsOmittable()
  @IsString()
  @Matches(/^[a-z0-9_-]{1,64}$/i, { message: 'tier must be a tier name' })
  tier?: string;

  @IsOmittable()
  @IsIn(STATUSES)
  status?: CustomerStatus;

  @IsOmittable()
  @IsIn(['name', 'usage', 'percent'])
  sort?: 'name' | 'usage' | 'percent';
}

export class ConsolePushesQuery {
  @IsOmittable()
  @IsIn(PUSH_STATUSES)
  status?: (typeof PUSH_STATUSES)[number];
}

/** Suspend or resume: the two status changes an operator makes by hand (past_due and canceled come from Stripe). */
export class ConsoleStatusDto {
  @IsIn(['active', 'suspended'])
  status: 'active' | 'suspended';
}

/** The Events page's filters; the window defaults to the last 24 hours and spans at most 31 days. */
export class ConsoleEventsQuery {
  @IsOmittable()
  @IsString()
  @Length(1, 100)
  customerId?: string;

  @IsOmittable()
  @IsString()
  @Matches(/^[a-z0-9_.-]{1,64}$/i, { message: 'meter must be a meter name' })
  meter?: string;

  @IsOmittable()
  @IsIsoDateTime()
  from?: Date;

  @IsOmittable()
  @IsIsoDateTime()
  to?: Date;
}

export class ConsoleTierDto {
  @IsString()
  @Matches(/^[a-z0-9_-]{1,64}$/i, { message: 'tier must be a tier name' })
  tier: string;
}
