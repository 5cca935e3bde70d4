/**
 * Usage quantities (event quantities, counter totals, deltas, overages) are whole numbers that can exceed what a
 * JavaScript number holds exactly (2^53 − 1). Inside Tollgate they are `bigint`; wherever they leave it as JSON
 * (APIs, webhooks, domain events) they are a number while exact and a decimal string beyond, so no consumer ever
 * reads a rounded total and small totals stay plain numbers.
 */
export type JsonQuantity = number | string;

/** The largest value of a Postgres `bigint` column: no counter may ever need more. */
export const BIGINT_MAX = 9_223_372_036_854_775_807n;

const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

export function jsonQuantity(value: bigint): JsonQuantity {
  return value <= SAFE_MAX && value >= -SAFE_MAX ? Number(value) : value.toString();
}

/** A quantity read back from JSON (or a `bigint` column, which drivers return as a string). */
export function parseQuantity(value: JsonQuantity | bigint): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${value} is not an exact whole number`);
    return BigInt(value);
  }
  if (!/^-?\d+$/.test(value)) throw new RangeError(`"${value}" is not a whole number`);
  return BigInt(value);
}
