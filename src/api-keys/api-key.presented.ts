import type { IncomingHttpHeaders } from 'node:http';
import type { KeyRejection } from './api-key.cache.js';

/** Why a key is refused, in the words every door (the guard, the verify API) answers with. */
export const KEY_REJECTION_MESSAGES: Record<KeyRejection | 'missing', string> = {
  missing: 'Missing API key: send it in the x-api-key header or as "Authorization: Bearer <key>".',
  unknown: 'Invalid API key.',
  revoked: 'This API key has been revoked.',
  expired: 'This API key has expired.',
  suspended: "This API key's account is suspended.",
};

/** The key a request presents: `x-api-key`, else `Authorization: Bearer <key>`. */
export function presentedKey(headers: IncomingHttpHeaders): string | null {
  const header = headers['x-api-key'];
  if (typeof header === 'string' && header.length > 0) return header.trim();
  const authorization = headers.authorization;
  if (authorization?.startsWith('Bearer ')) return authorization.slice(7).trim();
  return null;
}
