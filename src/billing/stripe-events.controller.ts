import { BadRequestException, Controller, Headers, HttpCode, Inject, Logger, Post, Req, ServiceUnavailableException } from '@nestjs/common';
import type { RawBodyRequest } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import type Stripe from 'stripe';
import { Public } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { ApiErrors } from '../common/api.js';
import { StripeEventReceiptDto } from './billing.dto.js';
import { METER_ERROR_EVENT_TYPES, type MeterErrorReport, MeterErrorsService } from './meter-errors.service.js';
import { InjectStripe, loadStripe, type StripeClient } from './stripe.client.js';

/**
 * Stripe event destination (thin events, v2): Stripe → Tollgate. The signature is checked on the raw body with
 * `parseEventNotification`; meter error reports then mark the pushes Stripe refused after accepting them.
 * A bad or missing signature answers 400; only a verified event whose processing fails answers 503 (Stripe retries).
 */
@ApiTags('stripe')
@Public()
@Controller('v1/billing/stripe/events')
export class StripeEventsController {
  private readonly logger = new Logger('StripeEvents');
  /** Parses and verifies when Stripe is off too (nothing is fetched then); made at the first event (stripe is an optional peer). */
  private verifier: Stripe | null = null;

  constructor(
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(MeterErrorsService) private readonly meterErrors: MeterErrorsService,
  ) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Stripe event destination: thin events (v1.billing.meter.error_report_triggered, v1.billing.meter.no_meter_found)',
    description: 'Signed by Stripe with STRIPE_EVENT_DESTINATION_SECRET. Meter error reports mark the pushes Stripe refused as failed and alert the operator.',
  })
  @ApiHeader({ name: 'Stripe-Signature', required: true, description: 't=<seconds>,v1=<HMAC-SHA256 of "<t>.<body>">' })
  @ApiBody({
    description: 'A v2 event notification',
    schema: {
      type: 'object',
      required: ['id', 'object', 'type'],
      properties: { id: { type: 'string' }, object: { type: 'string', example: 'v2.core.event' }, type: { type: 'string' }, created: { type: 'string' } },
    },
  })
  @ApiOkResponse({ type: StripeEventReceiptDto, description: 'Received' })
  @ApiErrors({ 400: ['invalid_signature', 'invalid_event'], 503: ['stripe_unavailable'] })
  async receive(@Req() request: RawBodyRequest<Request>, @Headers('stripe-signature') signature?: string) {
    const secret = this.config.stripeEventDestinationSecret;
    if (!secret) throw new BadRequestException({ error: 'invalid_signature', message: 'STRIPE_EVENT_DESTINATION_SECRET is not set: no event can be verified.' });
    if (!signature || !request.rawBody) throw new BadRequestException({ error: 'invalid_signature', message: 'Missing Stripe-Signature header or body.' });
    let notification: { id: string; type: string; related_object?: { id: string } | null };
    this.verifier ??= new (await loadStripe())('sk_test_event_verification_only');
    try {
      notification = (this.stripe ?? this.verifier).parseEventNotification(request.rawBody, signature, secret) as typeof notification;
    } catch {
      throw new BadRequestException({ error: 'invalid_signature', message: 'The Stripe signature does not verify.' });
    }
    if (typeof notification?.id !== 'string' || typeof notification.type !== 'string') {
      throw new BadRequestException({ error: 'invalid_event', message: 'The body is not a Stripe event notification.' });
    }
    if (!(METER_ERROR_EVENT_TYPES as readonly string[]).includes(notification.type)) return { received: true, ignored: true };
    if (!this.stripe) return { received: true, ignored: true };
    let data: MeterErrorReport;
    try {
      // Thin events carry no data: "you must fetch the versioned event from the API" (event-destinations).
      const event = await this.stripe.v2.core.events.retrieve(notification.id);
      data = (event as unknown as { data: MeterErrorReport }).data;
    } catch (error) {
      this.logger.error(`could not fetch ${notification.type} ${notification.id}: ${(error as Error).message}`);
      throw new ServiceUnavailableException({ error: 'stripe_unavailable', message: 'The event could not be fetched from Stripe; deliver it again.' });
    }
    if (!data?.reason || !Array.isArray(data.reason.error_types)) {
      throw new BadRequestException({ error: 'invalid_event', message: 'The meter error report has no reason.error_types.' });
    }
    const outcome = await this.meterErrors.apply(notification.type, data, notification.related_object?.id ?? null);
    return { received: true, ...outcome };
  }
}
