import { CUSTOM, DEFAULT_METER, type OveragePricing, type QuotaPolicy, type RatePolicy, type TierDefinition } from '../config/index.js';
import type { EffectiveLimits } from '../customers/index.js';

/**
 * What the portal shows of a tier, as display strings built from `tiers.yaml`. Money stays the catalog's exact
 * decimal string with a currency sign in front: it is never turned into a float on the way.
 */
export interface TierSummary {
  name: string;
  label: string;
  rank: number;
  price: string;
  /** The exact base price ("49.00"), null for `custom`. */
  priceAmount: string | null;
  currency: string | null;
  includedCalls: string;
  rateLimit: string;
  overage: string;
  whenQuotaIsUsed: string;
  /** Cumulative: a tier includes the endpoints of the tiers before it. */
  endpoints: string[];
  support: string | null;
  sla: string | null;
  /** Meters other than api_calls: what is included and what is billed beyond. */
  meters: Array<{ meter: string; included: string; overage: string }>;
  /** True when the tier has a list price (it can be bought online); `custom` tiers are sold by hand. */
  purchasable: boolean;
}

/** The caller's own plan: the tier's terms with the customer's effective (possibly negotiated) limits. */
export interface PlanSummary extends TierSummary {
  effective: { includedCalls: string; rateLimit: string; whenQuotaIsUsed: string; price: string };
}

const CURRENCY_SIGNS: Record<string, string> = { usd: '$', eur: '€', gbp: '£', cad: 'CA$', aud: 'A$', jpy: '¥', chf: 'CHF ' };

/** "49.00" + "usd" → "$49.00"; unknown currencies → "49.00 SEK". The amount string is kept exactly. */
export function formatMoney(amount: string, currency: string): string {
  const sign = CURRENCY_SIGNS[currency.toLowerCase()];
  if (!sign) return `${amount} ${currency.toUpperCase()}`;
  return amount.startsWith('-') ? `-${sign}${amount.slice(1)}` : `${sign}${amount}`;
}

/** 50000 → "50,000" (integers only; quantities are integers). */
export function formatCount(value: number): string {
  const sign = value < 0 ? '-' : '';
  return sign + String(Math.abs(Math.trunc(value))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const WINDOWS: Record<number, string> = { 1: 'second', 60: 'minute', 3600: 'hour', 86_400: 'day' };

/** [{ limit: 100, windowSeconds: 60 }] → "100 requests per minute". */
export function describeRateLimits(policies: RatePolicy[]): string {
  if (policies.length === 0) return 'No rate limit';
  return policies
    .map((policy) => {
      const unit = WINDOWS[policy.windowSeconds];
      const requests = `${formatCount(policy.limit)} ${policy.limit === 1 ? 'request' : 'requests'}`;
      return unit ? `${requests} per ${unit}` : `${requests} per ${formatCount(policy.windowSeconds)} seconds`;
    })
    .join(' and ');
}

/** "$0.002 per call"; banded prices list their bands. */
export function describeOverage(pricing: OveragePricing | null): string {
  if (!pricing) return 'Not available';
  const unit = pricing.unit;
  if (pricing.mode === 'per_unit') return `${formatMoney(pricing.unitPrice ?? '0', pricing.currency)} per ${unit}`;
  const bands = pricing.bands.map((band, index) => {
    const price = `${formatMoney(band.unitPrice, pricing.currency)} per ${unit}`;
    const fee = band.flatFee && !/^0(\.0*)?$/.test(band.flatFee) ? ` + ${formatMoney(band.flatFee, pricing.currency)}` : '';
    if (band.upTo === null) return index === 0 ? `${price}${fee}` : `then ${price}${fee}`;
    return `${index === 0 ? '' : 'then '}${price}${fee} up to ${formatCount(band.upTo)}`;
  });
  return `${bands.join(', ')} (${pricing.mode === 'volume' ? 'volume' : 'graduated'} pricing)`;
}

export function describeQuotaPolicy(policy: QuotaPolicy): string {
  switch (policy) {
    case 'block':
      return 'Requests are refused until the period resets';
    case 'throttle':
      return 'Requests are slowed to a tenth of the rate limit';
    case 'overage':
      return 'Requests go on and are billed as overage';
  }
}

function describePrice(tier: TierDefinition, override?: string): string {
  if (override !== undefined) return `${formatMoney(override, tier.price === CUSTOM ? 'usd' : tier.price.currency)} per month`;
  if (tier.price === CUSTOM) return 'Custom pricing';
  if (tier.price.amountMinor === 0) return 'Free';
  return `${formatMoney(tier.price.amount, tier.price.currency)} per ${tier.price.interval}`;
}

const label = (name: string) => name.charAt(0).toUpperCase() + name.slice(1).replace(/[_-]+/g, ' ');

/** The catalog's tiers as the comparison table shows them. */
export function summarizeTiers(tiers: TierDefinition[]): TierSummary[] {
  const ordered = [...tiers].sort((a, b) => a.rank - b.rank);
  return ordered.map((tier) => {
    const endpoints = [...new Set(ordered.filter((other) => other.rank <= tier.rank).flatMap((other) => other.endpoints))];
    return {
      name: tier.name,
      label: label(tier.name),
      rank: tier.rank,
      price: describePrice(tier),
      priceAmount: tier.price === CUSTOM ? null : tier.price.amount,
      currency: tier.price === CUSTOM ? null : tier.price.currency,
      includedCalls: tier.includedCalls === CUSTOM ? 'Custom' : `${formatCount(tier.includedCalls)} per month`,
      rateLimit: tier.rateLimits === CUSTOM ? 'Custom' : describeRateLimits(tier.rateLimits),
      overage: tier.price === CUSTOM && !tier.overage ? 'Custom' : describeOverage(tier.overage),
      whenQuotaIsUsed: describeQuotaPolicy(tier.onQuotaExceeded),
      endpoints,
      support: tier.support ? label(tier.support) : null,
      sla: tier.sla === null ? null : `${tier.sla}% uptime`,
      meters: Object.entries(tier.meters)
        .filter(([meter]) => meter !== DEFAULT_METER)
        .map(([meter, terms]) => ({
          meter,
          included: terms.included === CUSTOM ? 'Custom' : `${formatCount(terms.included)} per month`,
          overage: describeOverage(terms.overage),
        })),
      purchasable: tier.price !== CUSTOM,
    };
  });
}

/** The customer's own plan: its tier's summary plus the limits that actually apply to it. */
export function summarizePlan(catalog: TierDefinition[], tier: TierDefinition, limits: EffectiveLimits, priceOverride: string | undefined): PlanSummary {
  const summary = summarizeTiers(catalog).find((candidate) => candidate.name === tier.name) ?? summarizeTiers([tier])[0];
  return {
    ...summary,
    effective: {
      includedCalls: `${formatCount(limits.includedCalls)} per month`,
      rateLimit: describeRateLimits(limits.rateLimits),
      whenQuotaIsUsed: describeQuotaPolicy(limits.onQuotaExceeded),
      price: describePrice(tier, priceOverride),
    },
  };
}
