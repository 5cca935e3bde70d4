import { HttpException, Injectable } from '@nestjs/common';

export interface StripeWebhookError {
  at: string;
  /** The error code answered to Stripe (e.g. `invalid_signature`), or `processing_failed` for an unexpected error. */
  error: string;
  message: string;
}

const KEEP = 50;

/**
 * The latest webhook deliveries this instance refused or failed, for the operator console. In memory and per
 * instance: Stripe retries a failed delivery for days and its dashboard keeps the full history; this is the alarm.
 */
@Injectable()
export class StripeWebhookErrors {
  private readonly errors: StripeWebhookError[] = [];

  record(failure: unknown, at = new Date()): void {
    const body = failure instanceof HttpException ? failure.getResponse() : null;
    const code = body && typeof body === 'object' && 'error' in body && typeof body.error === 'string' ? body.error : 'processing_failed';
    const message = failure instanceof Error ? failure.message : String(failure);
    this.errors.push({ at: at.toISOString(), error: code, message: message.slice(0, 300) });
    if (this.errors.length > KEEP) this.errors.shift();
  }

  /** Newest first, those since `since`. */
  since(since: Date): StripeWebhookError[] {
    return this.errors.filter((entry) => entry.at >= since.toISOString()).reverse();
  }
}
