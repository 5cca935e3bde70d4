import type { HeaderSink } from '../common/index.js';

/** Seconds until the period ends: `X-Quota-Reset`, and `Retry-After` on a refusal. */
export function secondsUntil(periodEnd: Date, now = Date.now()): number {
  return Math.max(0, Math.ceil((periodEnd.getTime() - now) / 1000));
}

/** `X-Quota-Limit` / `-Remaining` / `-Reset` (seconds until the period ends) on metered responses. */
export function setQuotaHeaders(response: HeaderSink & { headersSent?: boolean }, included: number | null, used: bigint, periodEnd: Date, now = Date.now()): void {
  if (included === null || response.headersSent) return;
  const remaining = BigInt(included) - used;
  response.setHeader('X-Quota-Limit', included);
  response.setHeader('X-Quota-Remaining', remaining > 0n ? remaining.toString() : '0');
  response.setHeader('X-Quota-Reset', secondsUntil(periodEnd, now));
}
