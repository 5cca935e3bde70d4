/**
 * Exact decimal arithmetic on strings for money. Amounts are never JavaScript floats: they are parsed into
 * a scaled bigint, computed on, and printed back as decimal strings.
 */
const DECIMAL_PATTERN = /^(-)?(\d+)(?:\.(\d+))?$/;

export interface ScaledDecimal {
  /** value × 10^scale */
  units: bigint;
  scale: number;
}

export function isDecimalString(value: string): boolean {
  return DECIMAL_PATTERN.test(value);
}

export function parseDecimal(value: string): ScaledDecimal {
  const match = DECIMAL_PATTERN.exec(value.trim());
  if (!match) throw new RangeError(`"${value}" is not a decimal number`);
  const [, sign, whole, fraction = ''] = match;
  const units = BigInt(whole + fraction) * (sign ? -1n : 1n);
  return { units, scale: fraction.length };
}

function rescale(value: ScaledDecimal, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** Canonical form: no trailing zeros beyond `minScale` fraction digits. */
export function formatDecimal(value: ScaledDecimal, minScale = 0): string {
  let { units, scale } = value;
  while (scale > minScale && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  if (scale < minScale) {
    units *= 10n ** BigInt(minScale - scale);
    scale = minScale;
  }
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = scale > 0 ? `.${digits.slice(digits.length - scale)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

export function normalizeDecimal(value: string, minScale = 0): string {
  return formatDecimal(parseDecimal(value), minScale);
}

export function addDecimals(a: string, b: string): string {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const scale = Math.max(x.scale, y.scale);
  return formatDecimal({ units: rescale(x, scale) + rescale(y, scale), scale });
}

/** Exact product of a decimal amount and an integer quantity. */
export function multiplyDecimal(amount: string, quantity: number | bigint): string {
  const x = parseDecimal(amount);
  return formatDecimal({ units: x.units * BigInt(quantity), scale: x.scale });
}

export function compareDecimals(a: string, b: string): number {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const scale = Math.max(x.scale, y.scale);
  const diff = rescale(x, scale) - rescale(y, scale);
  return diff === 0n ? 0 : diff < 0n ? -1 : 1;
}

/** Integer minor units (cents for USD) when the amount is a whole number of them, else null. */
export function toMinorUnits(amount: string, exponent = 2): number | null {
  const x = parseDecimal(amount);
  if (x.scale <= exponent) return Number(rescale(x, exponent));
  const divisor = 10n ** BigInt(x.scale - exponent);
  return x.units % divisor === 0n ? Number(x.units / divisor) : null;
}

/** Rounds half away from zero to `scale` fraction digits (money: per invoice line, like Stripe). */
export function roundDecimal(amount: string, scale = 2): string {
  const x = parseDecimal(amount);
  if (x.scale <= scale) return formatDecimal({ units: rescale(x, scale), scale }, scale);
  const divisor = 10n ** BigInt(x.scale - scale);
  const negative = x.units < 0n;
  const magnitude = negative ? -x.units : x.units;
  let rounded = magnitude / divisor;
  if ((magnitude % divisor) * 2n >= divisor) rounded += 1n;
  return formatDecimal({ units: negative ? -rounded : rounded, scale }, scale);
}

/** Exact product of two decimals. */
export function multiplyDecimals(a: string, b: string): string {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  return formatDecimal({ units: x.units * y.units, scale: x.scale + y.scale });
}
