import Stripe from 'stripe';
import { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import type { TestDatabase } from './database.js';
import { testConfig } from './test-app.js';
import type { TollgateConfig } from '../../src/config/tollgate-config.js';

export const TEST_STRIPE_KEY = 'sk_test_tollgate_tests';

/** A Stripe emulator (strict like Stripe about summary bounds) and an SDK client pointed at it. */
export async function startStripe(): Promise<{ emulator: StripeEmulator; stripe: Stripe }> {
  const emulator = await StripeEmulator.start({ strictSummaryAlignment: true });
  const stripe = new Stripe(TEST_STRIPE_KEY, { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0 });
  return { emulator, stripe };
}

/** A test config with Stripe on (the emulator), fast retries and a generous client-side pace. */
export function stripeConfig(database: TestDatabase, emulator: StripeEmulator, overrides: Partial<TollgateConfig> = {}): TollgateConfig {
  return testConfig(database, {
    stripe: { secretKey: TEST_STRIPE_KEY, apiUrl: emulator.url, webhookSecret: emulator.webhookSecret },
    stripeMaxRequestsPerSecond: 400,
    stripeRetryBaseMs: 5,
    ...overrides,
  });
}

/** Stripe's events reach the service the way they do in production: a webhook endpoint registered in Stripe. */
export function connectWebhooks(emulator: StripeEmulator, serviceUrl: string): void {
  emulator.addWebhookEndpoint(`${serviceUrl}/v1/stripe/webhooks`);
}

/**
 * Puts a customer on a paid tier the way a paying customer gets there: the subscribe call answers 202 (the
 * subscription is `incomplete`: no card yet), the customer pays the first invoice with a working card, and
 * Stripe's webhooks (see connectWebhooks) grant the tier. Returns the customer's view afterwards.
 */
export async function subscribeAndPay(
  admin: { request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> },
  emulator: StripeEmulator,
  customerId: string,
  tier: string,
): Promise<{ id: string; tier: string; stripeCustomerId: string; stripeSubscriptionId: string; currentPeriod: { start: string; end: string } }> {
  const subscribed = await admin.request('POST', `/v1/customers/${customerId}/subscription`, { tier });
  if (subscribed.status === 202) {
    emulator.setPaymentOutcome(subscribed.body.stripeCustomerId, 'succeeds');
    await emulator.payInvoice(subscribed.body.subscription.latestInvoice.id);
  } else if (subscribed.status !== 200) {
    throw new Error(`subscribe: ${subscribed.status} ${JSON.stringify(subscribed.body)}`);
  }
  const view = (await admin.request('GET', `/v1/customers/${customerId}`)).body;
  if (view.tier === tier) return view;
  // No webhook endpoint registered: subscribing again to the same tier applies what Stripe says now (active).
  const again = await admin.request('POST', `/v1/customers/${customerId}/subscription`, { tier });
  if (again.status !== 200) throw new Error(`subscribe after paying: ${again.status} ${JSON.stringify(again.body)}`);
  return again.body;
}
