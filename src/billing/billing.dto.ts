import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length } from 'class-validator';
import { PeriodDto } from '../common/api.js';
import { CustomerDto } from '../customers/api.js';
import { QUANTITY_SCHEMA } from '../metering/api.js';
import type { PushStatus } from './push-outbox.js';

export const PUSH_STATUSES: PushStatus[] = ['pending', 'sent', 'failed', 'dry_run'];

export class SubscribeDto {
  @ApiProperty({ minLength: 1, maxLength: 100, description: 'A tier of tiers.yaml with a list price', example: 'pro' })
  @IsString()
  @Length(1, 100)
  tier: string;
}

export class PushesQueryDto {
  @ApiPropertyOptional({ enum: PUSH_STATUSES, description: 'Only pushes in this state (failed: what Stripe refused)' })
  @IsOptional()
  @IsIn(PUSH_STATUSES)
  status?: PushStatus;
}

export class ProvisionReportDto {
  @ApiProperty({ type: [String], description: 'Stripe objects created by this run' })
  created: string[];

  @ApiProperty({ type: [String], description: 'Stripe objects that were already right' })
  existing: string[];

  @ApiProperty({ type: [String], description: 'Prices replaced by a changed one and archived' })
  deactivated: string[];

  @ApiProperty({ type: [String], description: 'What provisioning cannot fix by itself' })
  problems: string[];
}

export class SyncReportDto {
  @ApiProperty({ description: 'false: another sync was running (see reason)' })
  ran: boolean;

  @ApiProperty({ description: 'true without STRIPE_SECRET_KEY: pushes are planned and recorded, not sent' })
  dryRun: boolean;

  @ApiProperty({ type: 'integer' })
  planned: number;

  @ApiProperty({ type: 'integer' })
  sent: number;

  @ApiProperty({ type: 'integer' })
  failed: number;

  @ApiProperty({ type: 'integer' })
  stillPending: number;

  @ApiPropertyOptional({ type: 'integer', description: 'Counters waiting for the cause of a failed push to be fixed' })
  blocked?: number;

  @ApiPropertyOptional()
  reason?: string;
}

/** One meter-event push of the outbox (`GET /v1/billing/pushes`). */
export class PushDto {
  @ApiProperty({ pattern: '^\\d+$', example: '42' })
  id: string;

  @ApiProperty({ description: "Stripe's idempotency identifier of the meter event" })
  identifier: string;

  @ApiProperty()
  customerId: string;

  @ApiProperty({ type: String, nullable: true })
  stripeCustomerId: string | null;

  @ApiProperty()
  meter: string;

  @ApiProperty()
  eventName: string;

  @ApiProperty({ format: 'date-time' })
  periodStart: string;

  @ApiProperty({ format: 'date-time' })
  periodEnd: string;

  @ApiProperty({ type: 'integer' })
  fromTotal: number;

  @ApiProperty({ type: 'integer' })
  toTotal: number;

  @ApiProperty({ type: 'integer' })
  delta: number;

  @ApiProperty({ format: 'date-time' })
  eventTimestamp: string;

  @ApiProperty({ enum: PUSH_STATUSES })
  status: PushStatus;

  @ApiProperty({ type: 'integer' })
  attempts: number;

  @ApiProperty({ format: 'date-time' })
  createdAt: string;

  @ApiProperty({ type: String, nullable: true })
  lastError: string | null;

  @ApiProperty({ type: String, nullable: true, description: "Stripe's error code (e.g. `no_meter`), `too_old` or `retry_requested`" })
  failureCode: string | null;

  @ApiProperty({ type: String, nullable: true })
  meterId: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The push that re-sent its usage' })
  replannedAs: string | null;
}

export class PushPageDto {
  @ApiProperty({ type: [PushDto], description: 'The latest 100, newest first' })
  data: PushDto[];
}

export class ReconciliationRowDto {
  @ApiProperty()
  customerId: string;

  @ApiProperty()
  meter: string;

  @ApiProperty({ type: PeriodDto })
  period: PeriodDto;

  @ApiProperty(QUANTITY_SCHEMA)
  localTotal: number | string;

  @ApiProperty({ type: 'integer' })
  pushedTotal: number;

  @ApiProperty({ type: 'integer', description: 'Of pushedTotal, what Stripe has surely processed' })
  settledTotal: number;

  @ApiProperty({ type: 'integer', nullable: true, description: 'null when Stripe is off' })
  stripeTotal: number | null;

  @ApiProperty({ type: 'integer', nullable: true, description: "Beyond Stripe's summary delay: what Stripe lacks (negative: has too much)" })
  drift: number | null;

  @ApiProperty(QUANTITY_SCHEMA)
  unpushed: number | string;
}

export class ReconciliationReportDto {
  @ApiProperty({ type: [ReconciliationRowDto] })
  rows: ReconciliationRowDto[];

  @ApiProperty({ type: 'integer' })
  driftDetected: number;

  @ApiProperty({ type: [PushDto], description: 'Pushes Stripe refused whose usage was not re-sent yet' })
  failedPushes: PushDto[];

  @ApiProperty({ type: [String] })
  warnings: string[];
}

export class LatestInvoiceDto {
  @ApiProperty()
  id: string;

  @ApiProperty({ type: String, nullable: true })
  status: string | null;

  @ApiProperty({ type: 'integer', description: 'In minor units' })
  amountDue: number;

  @ApiProperty({ type: String, nullable: true, description: 'Where the customer pays' })
  hostedInvoiceUrl: string | null;
}

export class SubscriptionDto {
  @ApiProperty({ example: 'sub_1Qx…' })
  id: string;

  @ApiProperty({ example: 'active', description: "Stripe's subscription status" })
  status: string;

  @ApiProperty({ type: LatestInvoiceDto, nullable: true })
  latestInvoice: LatestInvoiceDto | null;

  @ApiProperty({ type: String, nullable: true, description: 'What has to happen next while the tier is not granted' })
  nextStep: string | null;
}

export class SubscribedCustomerDto extends CustomerDto {
  @ApiProperty({ type: SubscriptionDto })
  subscription: SubscriptionDto;
}

export class InvoiceLineDto {
  @ApiProperty()
  description: string;

  @ApiProperty({ type: String, nullable: true })
  meter: string | null;

  @ApiProperty(QUANTITY_SCHEMA)
  quantity: number | string;

  @ApiProperty({ type: String, nullable: true, description: 'Exact decimal, major units' })
  unitPrice: string | null;

  @ApiProperty({ description: 'Exact decimal, rounded to cents', example: '49.00' })
  amount: string;
}

export class InvoicePreviewDto {
  @ApiProperty()
  customerId: string;

  @ApiProperty()
  tier: string;

  @ApiProperty({ type: PeriodDto })
  period: PeriodDto;

  @ApiProperty({ example: 'usd' })
  currency: string;

  @ApiProperty({ type: [InvoiceLineDto] })
  lines: InvoiceLineDto[];

  @ApiProperty({ description: 'Exact decimal', example: '61.40' })
  total: string;

  @ApiProperty({ type: 'integer' })
  totalMinor: number;
}

export class StripeEventReceiptDto {
  @ApiProperty()
  received: boolean;

  @ApiPropertyOptional({ description: 'An event type Tollgate does not act on (or Stripe is off)' })
  ignored?: boolean;

  @ApiPropertyOptional({ type: 'integer', description: 'Pushes marked failed' })
  failed?: number;

  @ApiPropertyOptional({ type: 'integer', description: 'Errors no push could be matched with' })
  unmatched?: number;
}
