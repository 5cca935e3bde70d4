import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import { isDecimalString, multiplyDecimals, normalizeDecimal, toMinorUnits } from '../common/index.js';
import { CUSTOM, type TierDefinition } from '../config/index.js';
import { type MeteredPrice, meteredPrice } from './pricing.js';
import { loadedStripe, stripeNames } from './stripe.client.js';

/** One Stripe price Tollgate wants, by lookup_key, with exactly the parameters it is created with. */
export interface WantedPrice {
  lookupKey: string;
  params: Stripe.PriceCreateParams;
}

/** "You can specify up to 10 lookup_keys." (PriceListParams.lookup_keys) */
export const LOOKUP_KEYS_PER_LIST = 10;

/** Stripe prices are in cents: "0.002" USD per call is unit_amount_decimal "0.2". */
const toCents = (amount: string) => multiplyDecimals(amount, '100');

/** The tiers of a metered price in Stripe's terms (cents; `up_to` a whole quantity or 'inf'). */
export function stripeTiers(price: MeteredPrice): Stripe.PriceCreateParams.Tier[] {
  return price.tiers.map((tier) => {
    const flat = toMinorUnits(tier.flatFee);
    // tiers.yaml refuses sub-cent flat fees, so this only guards a catalog built in code.
    if (flat === null) throw new RangeError(`flat fee ${tier.flatFee} is not a whole number of cents`);
    return {
      up_to: tier.upTo === null ? ('inf' as const) : Number(tier.upTo),
      unit_amount_decimal: loadedStripe().Decimal.from(toCents(tier.unitPrice)),
      ...(flat !== 0 && { flat_amount: flat }),
    };
  });
}

/**
 * The prices a tier needs: a licensed base price and, per meter with overage pricing, a metered price on the
 * meter with the BASE price's interval (Stripe bills a metered item per its own interval; a yearly plan's
 * usage on a monthly price would be invoiced on a different cycle than the plan).
 */
export function wantedPrices(tier: TierDefinition, productId: string, meterIds: ReadonlyMap<string, string>): WantedPrice[] {
  if (tier.price === CUSTOM) return [];
  const basePrice = tier.price;
  const wanted: WantedPrice[] = [
    {
      lookupKey: stripeNames.basePrice(tier.name),
      params: {
        product: productId,
        currency: basePrice.currency,
        unit_amount: basePrice.amountMinor,
        recurring: { interval: basePrice.interval, usage_type: 'licensed' },
        metadata: { tollgate_tier: tier.name, tollgate_kind: 'base', tollgate_lookup_key: stripeNames.basePrice(tier.name) },
      },
    },
  ];
  for (const [meterName, terms] of Object.entries(tier.meters)) {
    const meter = meterIds.get(meterName);
    if (!meter || !terms.overage || terms.included === CUSTOM) continue;
    const priced = meteredPrice(terms.included, terms.overage);
    const lookupKey = stripeNames.meteredPrice(tier.name, meterName);
    wanted.push({
      lookupKey,
      params: {
        product: productId,
        currency: terms.overage.currency,
        recurring: { interval: basePrice.interval, usage_type: 'metered', meter },
        billing_scheme: 'tiered',
        tiers_mode: priced.mode,
        tiers: stripeTiers(priced),
        metadata: { tollgate_tier: tier.name, tollgate_kind: 'metered', tollgate_meter: meterName, tollgate_lookup_key: lookupKey },
      },
    });
  }
  return wanted;
}

const decimalText = (value: unknown): string | null => {
  if (value === null || value === undefined) return null;
  const text = String(value);
  return isDecimalString(text) ? normalizeDecimal(text) : text;
};

/** A price's billing terms in one comparable shape (what a change of any of them must be noticed by). */
function terms(price: {
  currency: string;
  unit_amount_decimal?: unknown;
  unit_amount?: number | null;
  billing_scheme?: string | null;
  tiers_mode?: string | null;
  recurring?: { interval: string; interval_count?: number | null; usage_type?: string | null; meter?: string | null } | null;
  tiers?: Array<{ up_to: number | 'inf' | null; unit_amount_decimal?: unknown; unit_amount?: number | null; flat_amount?: number | null; flat_amount_decimal?: unknown }> | null;
}): string {
  const unit = decimalText(price.unit_amount_decimal) ?? (price.unit_amount === null || price.unit_amount === undefined ? null : String(price.unit_amount));
  return JSON.stringify({
    currency: price.currency.toLowerCase(),
    scheme: price.billing_scheme ?? 'per_unit',
    mode: price.tiers_mode ?? null,
    unit: (price.billing_scheme ?? 'per_unit') === 'per_unit' ? unit : null,
    interval: price.recurring?.interval ?? null,
    count: price.recurring?.interval_count ?? 1,
    usage: price.recurring?.usage_type ?? 'licensed',
    meter: price.recurring?.meter ?? null,
    tiers: (price.tiers ?? []).map((tier) => ({
      upTo: tier.up_to === 'inf' ? null : tier.up_to,
      unit: decimalText(tier.unit_amount_decimal) ?? (tier.unit_amount === null || tier.unit_amount === undefined ? '0' : String(tier.unit_amount)),
      flat: decimalText(tier.flat_amount_decimal) ?? (tier.flat_amount === null || tier.flat_amount === undefined ? '0' : String(tier.flat_amount)),
    })),
  });
}

/** True when the Stripe price (listed with `expand: ['data.tiers']`) bills exactly what `wanted` would. */
export function priceMatches(current: Stripe.Price, wanted: WantedPrice): boolean {
  if (current.billing_scheme === 'tiered' && !current.tiers) throw new Error(`price ${current.id} was listed without its tiers (expand data.tiers)`);
  const params = wanted.params as Parameters<typeof terms>[0];
  return terms(current as unknown as Parameters<typeof terms>[0]) === terms(params) && current.product === wanted.params.product;
}

/** Canonical JSON (sorted keys; Decimals as text) of request parameters. */
function canonical(value: unknown): string {
  // Stripe.Decimal (and any other class instance) by its text; plain objects by their keys.
  if (value && typeof value === 'object' && !Array.isArray(value) && Object.getPrototypeOf(value) !== Object.prototype) return JSON.stringify(String(value));
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * An Idempotency-Key derived from the request's parameters (and what it replaces): a retry of the same call
 * replays, any change of the parameters is a new key — never a 400 for a reused key with other parameters,
 * never the replay of an older creation (A → B → A replaces B's price, a different key from A's first one).
 */
export function idempotencyKeyFor(kind: string, name: string, params: unknown): string {
  const digest = createHash('sha256').update(canonical(params)).digest('hex').slice(0, 32);
  return `tollgate-${kind}-${name}-${digest}`.slice(0, 255);
}

/** Active prices by lookup_key, listed 10 keys at a time with their tiers. */
export async function pricesByLookupKey(stripe: Stripe, lookupKeys: string[]): Promise<Map<string, Stripe.Price>> {
  const found = new Map<string, Stripe.Price>();
  const unique = [...new Set(lookupKeys)];
  for (let i = 0; i < unique.length; i += LOOKUP_KEYS_PER_LIST) {
    const batch = unique.slice(i, i + LOOKUP_KEYS_PER_LIST);
    const page = await stripe.prices.list({ lookup_keys: batch, active: true, limit: 100, expand: ['data.tiers'] });
    for (const price of page.data) if (price.lookup_key) found.set(price.lookup_key, price);
  }
  return found;
}
