import { Inject } from '@nestjs/common';
import type Stripe from 'stripe';
import { loadOptionalPeer } from '../common/index.js';
import type { TollgateConfig } from '../config/index.js';

/** The Stripe SDK client, or null when STRIPE_SECRET_KEY is unset (Stripe off: the sync job dry-runs). */
export type StripeClient = Stripe | null;
export const StripeClient = Symbol('StripeClient');
export const InjectStripe = () => Inject(StripeClient);

let sdk: typeof Stripe | null = null;

/** The Stripe SDK, an optional peer: loaded once, when Stripe is configured or a Stripe webhook arrives. */
export async function loadStripe(): Promise<typeof Stripe> {
  sdk ??= (await loadOptionalPeer('stripe', 'Stripe billing (the stripe.secretKey option, STRIPE_SECRET_KEY)', () => import('stripe'))).default;
  return sdk;
}

/** The SDK already loaded by `loadStripe()` (a client exists, so it was). */
export function loadedStripe(): typeof Stripe {
  if (!sdk) throw new Error('the Stripe SDK is used before loadStripe()');
  return sdk;
}

export async function createStripeClient(config: TollgateConfig): Promise<StripeClient> {
  if (!config.stripe.secretKey) return null;
  const local = config.stripe.apiUrl ? new URL(config.stripe.apiUrl) : null;
  const Stripe = await loadStripe();
  return new Stripe(config.stripe.secretKey, {
    // Retries are ours (backoff, summaries check, outbox); the SDK must not retry behind our back.
    maxNetworkRetries: 0,
    timeout: 20_000,
    appInfo: { name: 'tollgate' },
    ...(local && {
      host: local.hostname,
      port: Number(local.port || (local.protocol === 'https:' ? 443 : 80)),
      protocol: local.protocol === 'https:' ? 'https' : 'http',
    }),
  });
}

/** Stripe's own names for what we create: stable, so provisioning finds them again. */
export const stripeNames = {
  product: (tier: string) => `tollgate_${tier}`,
  basePrice: (tier: string) => `tollgate_${tier}_base`,
  meteredPrice: (tier: string, meter: string) => `tollgate_${tier}_${meter}`,
  meterEvent: (meter: string) => `tollgate_${meter}`,
};

export function isStripeError(error: unknown): error is { type: string; code?: string; statusCode?: number; message: string; headers?: Record<string, string> } {
  return typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string' && 'message' in error;
}
