import { CUSTOM, parseRatePolicy, type QuotaPolicy, type RatePolicy, type TierDefinition } from '../config/index.js';
import type { CustomerOverrides } from './customer.entity.js';

/** What one customer actually gets: the tier's values with `custom` ones (and any overrides) filled in. */
export interface EffectiveLimits {
  includedCalls: number;
  rateLimits: RatePolicy[];
  onQuotaExceeded: QuotaPolicy;
}

/** Problems with a customer's overrides for a tier, by field (`overrides.includedCalls`), for a 400. */
export function overrideProblems(tier: TierDefinition, overrides: CustomerOverrides): Array<{ field: string; problems: string[] }> {
  const problems: Array<{ field: string; problems: string[] }> = [];
  if (tier.includedCalls === CUSTOM && overrides.includedCalls === undefined) {
    problems.push({ field: 'overrides.includedCalls', problems: [`tier ${tier.name} has custom included calls: set overrides.includedCalls`] });
  }
  if (tier.rateLimits === CUSTOM && (overrides.rateLimit === undefined || overrides.rateLimit.length === 0)) {
    problems.push({ field: 'overrides.rateLimit', problems: [`tier ${tier.name} has a custom rate limit: set overrides.rateLimit, e.g. ["1000/min"]`] });
  }
  for (const [index, policy] of (overrides.rateLimit ?? []).entries()) {
    if (!parseRatePolicy(policy)) {
      problems.push({ field: `overrides.rateLimit[${index}]`, problems: [`expected "<count>/<sec|min|hour|day>", got "${policy}"`] });
    }
  }
  return problems;
}

export function effectiveLimits(tier: TierDefinition, overrides: CustomerOverrides): EffectiveLimits {
  const includedCalls = overrides.includedCalls ?? (tier.includedCalls === CUSTOM ? 0 : tier.includedCalls);
  const rateLimits = overrides.rateLimit?.length
    ? overrides.rateLimit.map((policy) => parseRatePolicy(policy)).filter((policy): policy is RatePolicy => policy !== null)
    : tier.rateLimits === CUSTOM
      ? []
      : tier.rateLimits;
  return { includedCalls, rateLimits, onQuotaExceeded: overrides.onQuotaExceeded ?? tier.onQuotaExceeded };
}
