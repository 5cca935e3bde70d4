import { addDecimals, multiplyDecimal, roundDecimal } from '../common/decimal.js';
import { type JsonQuantity, jsonQuantity } from '../common/quantity.js';
import { CUSTOM, DEFAULT_METER, type OveragePricing, type TierDefinition } from '../config/tier-catalog.js';
import type { EffectiveLimits } from '../customers/effective-limits.js';

export interface InvoiceLine {
  description: string;
  meter: string | null;
  /** A JSON number while ≤ 2^53 − 1, else an exact decimal string (usage totals can pass 2^53). */
  quantity: JsonQuantity;
  /** Exact decimal unit price in major units, when the line has one. */
  unitPrice: string | null;
  /** Rounded to cents, half away from zero, per line (as Stripe does). */
  amount: string;
}

export interface InvoicePreview {
  currency: string;
  lines: InvoiceLine[];
  total: string;
  totalMinor: number;
}

/** The exact (unrounded) price of `units` overage units (whole units, exact past 2^53). */
export function overageAmount(pricing: OveragePricing, quantity: number | bigint): string {
  const units = BigInt(quantity);
  if (units <= 0n) return '0';
  if (pricing.mode === 'per_unit') return multiplyDecimal(pricing.unitPrice ?? '0', units);
  if (pricing.mode === 'volume') {
    // One band prices every unit: the band the whole quantity falls in.
    const band = pricing.bands.find((candidate) => candidate.upTo === null || units <= BigInt(candidate.upTo)) ?? pricing.bands[pricing.bands.length - 1];
    return addDecimals(multiplyDecimal(band.unitPrice, units), band.flatFee);
  }
  let amount = '0';
  let floor = 0n;
  for (const band of pricing.bands) {
    const ceiling = band.upTo === null ? null : BigInt(band.upTo);
    const top = ceiling === null || units < ceiling ? units : ceiling;
    const inBand = top > floor ? top - floor : 0n;
    if (inBand > 0n) amount = addDecimals(amount, addDecimals(multiplyDecimal(band.unitPrice, inBand), band.flatFee));
    if (ceiling === null || units <= ceiling) break;
    floor = ceiling;
  }
  return amount;
}

/**
 * What a customer owes for a period: the tier's base price (or the customer's own price) plus, per meter,
 * the overage beyond the included quantity. Money is exact decimal throughout; each line is rounded to
 * cents once, at the end.
 */
export function previewInvoice(
  tier: TierDefinition,
  limits: EffectiveLimits,
  priceOverride: string | undefined,
  usage: ReadonlyMap<string, bigint | number>,
): InvoicePreview {
  const currency = tier.price === CUSTOM ? 'usd' : tier.price.currency;
  const lines: InvoiceLine[] = [];
  const base = priceOverride ?? (tier.price === CUSTOM ? null : tier.price.amount);
  if (base !== null) {
    lines.push({ description: `${tier.name} plan`, meter: null, quantity: 1, unitPrice: base, amount: roundDecimal(base) });
  }
  for (const [meter, terms] of Object.entries(tier.meters)) {
    const total = BigInt(usage.get(meter) ?? 0);
    const included = meter === DEFAULT_METER ? limits.includedCalls : terms.included === CUSTOM ? 0 : terms.included;
    const overage = total > BigInt(included) ? total - BigInt(included) : 0n;
    if (!terms.overage || overage === 0n) continue;
    lines.push({
      description: `${meter} overage: ${overage} beyond ${included} included`,
      meter,
      quantity: jsonQuantity(overage),
      unitPrice: terms.overage.mode === 'per_unit' ? terms.overage.unitPrice : null,
      amount: roundDecimal(overageAmount(terms.overage, overage)),
    });
  }
  const total = roundDecimal(lines.reduce((sum, line) => addDecimals(sum, line.amount), '0'));
  return { currency, lines, total, totalMinor: Number(total.replace('.', '')) };
}
