import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { existingRequestState, requestState } from '../common/index.js';
import type { TierDefinition } from '../config/index.js';
import type { CustomerStatus } from '../customers/index.js';
import type { EffectiveLimits } from '../customers/index.js';
import type { KeyMode } from './api-key.secret.js';
import type { KeyControls } from './key-controls.js';

/** Who is calling: resolved once per request by ApiKeyGuard and reused by every later guard. */
export interface Consumer {
  customerId: string;
  customerName: string;
  status: CustomerStatus;
  tier: TierDefinition;
  limits: EffectiveLimits;
  /** The customer's Stripe billing period when subscribed; usage periods follow it (else calendar months). */
  billingPeriod: { start: Date; end: Date } | null;
  key: {
    id: string;
    prefix: string;
    mode: KeyMode;
    scopes: string[];
    expiresAt: Date | null;
    /** The key's own controls (rate limit, usage cap, IP allowlist, endpoints, metadata), compiled once. */
    controls: KeyControls;
  };
}

export function attachConsumer(request: object, consumer: Consumer): void {
  requestState(request).consumer = consumer;
}

export function consumerOf(request: object): Consumer | undefined {
  // Only attachConsumer writes the slot.
  return existingRequestState(request)?.consumer as Consumer | undefined;
}

/** Handler parameter: `@CurrentConsumer() consumer: Consumer`. */
export const CurrentConsumer = createParamDecorator((_data: unknown, context: ExecutionContext) =>
  consumerOf(context.switchToHttp().getRequest()),
);
