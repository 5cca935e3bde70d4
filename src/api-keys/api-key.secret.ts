import { hash } from 'node:crypto';
import { randomBase62 } from '../common/index.js';

export type KeyMode = 'live' | 'test';

const SECRET_BYTES = 32;
const SECRET_LENGTH = 43; // 32 random bytes in base62
export const API_KEY_PATTERN = new RegExp(`^tg_(live|test)_[0-9A-Za-z]{${SECRET_LENGTH}}$`);
/** How much of a key is kept to show it in lists: `tg_live_Ab3x`. Not enough to guess the rest. */
const DISPLAY_PREFIX_LENGTH = 12;

export interface GeneratedKey {
  secret: string;
  hash: string;
  prefix: string;
}

export function generateApiKey(mode: KeyMode): GeneratedKey {
  const secret = `tg_${mode}_${randomBase62(SECRET_BYTES)}`;
  return { secret, hash: hashApiKey(secret), prefix: secret.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/** Only this digest is stored. SHA-256 (not a slow KDF) is right for 256-bit random secrets. */
export function hashApiKey(secret: string): string {
  // One-shot `hash` (Node ≥ 20.12): no Hash object per request, as `createHash().update().digest()` allocates.
  return hash('sha256', secret, 'hex');
}

export function looksLikeApiKey(value: string): boolean {
  return API_KEY_PATTERN.test(value);
}

