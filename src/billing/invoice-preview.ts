import { roundDecimal, toMinorUnits } from '../common/index.js';
import { CUSTOM, type TierDefinition } from '../config/index.js';
import type { EffectiveLimits } from '../customers/index.js';
import type { BillingPeriod } from '../metering/index.js';
import { type InvoiceLine, type InvoicePreview, previewInvoice } from './pricing.js';

/** The terms a customer was on for part of a period. */
export interface TierTerms {
  tier: TierDefinition;
  limits: EffectiveLimits;
  priceOverride: string | undefined;
}

/** A stretch of a period on one tier: from `start` to the next segment's start (or the period's end). */
export interface PeriodSegment extends TierTerms {
  start: Date;
  /** Usage per meter that Stripe bills on this segment's metered prices. */
  usage: ReadonlyMap<string, bigint | number>;
}

export interface PeriodInvoiceInput {
  period: BillingPeriod;
  /** In time order; the first starts at the period's start. One segment when the tier never changed. */
  segments: PeriodSegment[];
  /** False when the subscription ends with the period (or before): no base price in advance for the next one. */
  renews: boolean;
}

/**
 * The invoice Stripe makes when a period closes, computed the way Stripe builds it (subscriptions/invoices,
 * usage-based/manage-billing-setup, billing/subscriptions/prorations):
 *  - metered prices bill in arrears, per price: a tier change mid-period (flexible billing mode) bills the old
 *    price's usage up to the change and the new price's usage from the change on, each on its own tiers (the
 *    new segment starts from zero: its included units and graduated bands start over);
 *  - the base price bills in advance: the next period's base of the tier the period ends on, unless the
 *    subscription ends with it;
 *  - a tier change prorates the base: a credit for the unused time on the old base, a debit for the remaining
 *    time on the new one (`proration_behavior: create_prorations`), each rounded to the cent.
 * With one segment and a renewal this is the base price plus the period's overage.
 */
export function periodInvoice(input: PeriodInvoiceInput): InvoicePreview {
  const { period, segments } = input;
  if (segments.length === 0) throw new RangeError('a period has at least one segment');
  const last = segments[segments.length - 1];
  const currency = currencyOf(last.tier);
  const lines: InvoiceLine[] = [];
  const several = segments.length > 1;

  segments.forEach((segment, index) => {
    const end = index + 1 < segments.length ? segments[index + 1].start : period.end;
    const usageLines = previewInvoice(segment.tier, segment.limits, segment.priceOverride, segment.usage).lines.filter((line) => line.meter !== null);
    for (const line of usageLines) {
      lines.push(several ? { ...line, description: `${line.description} (${segment.tier.name}, ${segment.start.toISOString()} – ${end.toISOString()})` } : line);
    }
    if (index === 0) return;
    const previous = segments[index - 1];
    const remaining = BigInt(period.end.getTime() - segment.start.getTime());
    const whole = BigInt(period.end.getTime() - period.start.getTime());
    const oldBase = baseMinor(previous);
    const newBase = baseMinor(segment);
    if (oldBase !== null && oldBase !== 0n) {
      lines.push(prorationLine(`Unused time on ${previous.tier.name} plan after ${segment.start.toISOString()}`, -prorate(oldBase, remaining, whole)));
    }
    if (newBase !== null && newBase !== 0n) {
      lines.push(prorationLine(`Remaining time on ${segment.tier.name} plan after ${segment.start.toISOString()}`, prorate(newBase, remaining, whole)));
    }
  });

  if (input.renews) {
    const base = previewInvoice(last.tier, last.limits, last.priceOverride, new Map()).lines.find((line) => line.meter === null);
    if (base) lines.unshift(base);
  }
  const totalMinor = lines.reduce((sum, line) => sum + minorOf(line.amount), 0n);
  return { currency, lines, total: formatMinor(totalMinor), totalMinor: Number(totalMinor) };
}

function currencyOf(tier: TierDefinition): string {
  return tier.price === CUSTOM ? 'usd' : tier.price.currency;
}

/** The base price in minor units, or null when the tier has none (custom without an override). */
function baseMinor(terms: TierTerms): bigint | null {
  const base = terms.priceOverride ?? (terms.tier.price === CUSTOM ? null : terms.tier.price.amount);
  return base === null ? null : minorOf(roundDecimal(base));
}

/** `amount × part / whole`, rounded half away from zero: Stripe prorates to the second and rounds the line. */
export function prorate(amountMinor: bigint, part: bigint, whole: bigint): bigint {
  if (whole <= 0n || part <= 0n) return 0n;
  const numerator = amountMinor * (part < whole ? part : whole);
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  const rounded = (2n * magnitude + whole) / (2n * whole);
  return negative ? -rounded : rounded;
}

function prorationLine(description: string, amountMinor: bigint): InvoiceLine {
  return { description, meter: null, quantity: 1, unitPrice: null, amount: formatMinor(amountMinor) };
}

function minorOf(amount: string): bigint {
  const minor = toMinorUnits(amount);
  if (minor === null) throw new RangeError(`not a whole number of cents: ${amount}`);
  return BigInt(minor);
}

export function formatMinor(minor: bigint): string {
  const negative = minor < 0n;
  const magnitude = negative ? -minor : minor;
  return `${negative ? '-' : ''}${magnitude / 100n}.${(magnitude % 100n).toString().padStart(2, '0')}`;
}
