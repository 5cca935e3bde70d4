import { addDecimals, multiplyDecimal, roundDecimal } from '../common/index.js';
import { type JsonQuantity, jsonQuantity } from '../common/index.js';
import { CUSTOM, DEFAULT_METER, type OveragePricing, type TierDefinition } from '../config/index.js';
import type { EffectiveLimits } from '../customers/index.js';

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

/**
 * One tier of a metered price as Tollgate provisions it in Stripe, in units of the period's WHOLE usage
 * (the included quantity is the first, free tier). Amounts are exact decimals in major units.
 */
export interface MeteredPriceTier {
  /** Inclusive upper bound of total usage; null = unbounded. */
  upTo: bigint | null;
  unitPrice: string;
  flatFee: string;
}

export interface MeteredPrice {
  /** Stripe's `tiers_mode`: per-unit overage is a graduated price with a free first tier. */
  mode: 'graduated' | 'volume';
  tiers: MeteredPriceTier[];
}

/**
 * The metered price of a meter: what provisioning sends to Stripe AND what the invoice preview prices, so
 * the two cannot disagree on the model. Stripe bills the period's whole usage on the meter, so "included"
 * becomes a free first tier `[0, included]` and the overage bands follow it, shifted by `included`.
 * In volume mode Stripe prices EVERY unit at the tier the total falls in, the included ones too ("The entire
 * quantity (or usage) is multiplied by the unit cost of the tier", tiered-pricing docs): once usage passes
 * the included quantity, volume bills all of it at the band's price. Tollgate's preview follows that.
 */
export function meteredPrice(included: number, overage: OveragePricing): MeteredPrice {
  const base = BigInt(included);
  const free: MeteredPriceTier[] = included > 0 ? [{ upTo: base, unitPrice: '0', flatFee: '0' }] : [];
  if (overage.mode === 'per_unit') return { mode: 'graduated', tiers: [...free, { upTo: null, unitPrice: overage.unitPrice ?? '0', flatFee: '0' }] };
  return {
    mode: overage.mode,
    tiers: [
      ...free,
      ...overage.bands.map((band) => ({ upTo: band.upTo === null ? null : base + BigInt(band.upTo), unitPrice: band.unitPrice, flatFee: band.flatFee })),
    ],
  };
}

/**
 * The exact (unrounded) amount of `quantity` units on a tiered price, the way Stripe prices it:
 *  - volume: the tier the whole quantity falls in prices every unit, plus that tier's flat fee;
 *  - graduated: each tier prices the units inside it; a tier's flat fee is due once usage reaches the tier,
 *    the first tier's always (Stripe bills the first tier's flat amount even for zero usage).
 * `upTo` is inclusive ("Up to and including to this quantity will be contained in the tier", Price.tiers).
 */
export function tieredAmount(price: MeteredPrice, quantity: number | bigint): string {
  const units = BigInt(quantity) > 0n ? BigInt(quantity) : 0n;
  if (price.tiers.length === 0) return '0';
  if (price.mode === 'volume') {
    const tier = price.tiers.find((candidate) => candidate.upTo === null || units <= candidate.upTo) ?? price.tiers[price.tiers.length - 1];
    return addDecimals(multiplyDecimal(tier.unitPrice, units), tier.flatFee);
  }
  let amount = '0';
  let floor = 0n;
  for (const [index, tier] of price.tiers.entries()) {
    const top = tier.upTo === null || units < tier.upTo ? units : tier.upTo;
    const inTier = top > floor ? top - floor : 0n;
    if (inTier > 0n || index === 0) amount = addDecimals(amount, addDecimals(multiplyDecimal(tier.unitPrice, inTier), tier.flatFee));
    if (tier.upTo === null || units <= tier.upTo) break;
    floor = tier.upTo;
  }
  return amount;
}

/** The exact (unrounded) price of `quantity` overage units beyond nothing included (bands as written in tiers.yaml). */
export function overageAmount(pricing: OveragePricing, quantity: number | bigint): string {
  return tieredAmount(meteredPrice(0, pricing), quantity);
}

/**
 * What a customer owes for a period: the tier's base price (or the customer's own price) plus, per meter,
 * what the meter's Stripe price charges for the period's usage (see `meteredPrice`). Money is exact decimal
 * throughout; each line is rounded to cents once, at the end.
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
    if (!terms.overage) continue;
    const raw = BigInt(usage.get(meter) ?? 0);
    const total = raw > 0n ? raw : 0n; // Stripe bills a negative period total as 0
    const included = meter === DEFAULT_METER ? limits.includedCalls : terms.included === CUSTOM ? 0 : terms.included;
    const amount = roundDecimal(tieredAmount(meteredPrice(included, terms.overage), total));
    if (amount === '0.00') continue;
    const overage = total > BigInt(included) ? total - BigInt(included) : 0n;
    const volume = terms.overage.mode === 'volume';
    lines.push({
      description: volume
        ? `${meter}: ${total} at the volume band for ${overage} beyond ${included} included (volume pricing bills every unit)`
        : `${meter} overage: ${overage} beyond ${included} included`,
      meter,
      quantity: jsonQuantity(volume ? total : overage),
      unitPrice: terms.overage.mode === 'per_unit' ? terms.overage.unitPrice : null,
      amount,
    });
  }
  const total = roundDecimal(lines.reduce((sum, line) => addDecimals(sum, line.amount), '0'));
  return { currency, lines, total, totalMinor: Number(total.replace('.', '')) };
}
