import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Base62 text of `bytes` random bytes (unbiased: from the big-endian integer, left-padded to a fixed width). */
export function randomBase62(bytes: number): string {
  let value = BigInt(`0x${randomBytes(bytes).toString('hex')}`);
  const width = Math.ceil((bytes * 8) / Math.log2(62));
  let text = '';
  while (value > 0n) {
    text = BASE62[Number(value % 62n)] + text;
    value /= 62n;
  }
  return text.padStart(width, '0');
}

/** Stripe-style ids: `cus_…`, `key_…`. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBase62(12)}`;
}
