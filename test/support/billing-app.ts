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
