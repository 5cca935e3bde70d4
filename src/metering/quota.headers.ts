import type { Response } from 'express';

/** `X-Quota-Limit` / `-Remaining` / `-Reset` (seconds until the period ends) on metered responses. */
export function setQuotaHeaders(response: Response, included: number | null, used: number, periodEnd: Date, now = Date.now()): void {
  if (included === null || response.headersSent) return;
  response.setHeader('X-Quota-Limit', included);
  response.setHeader('X-Quota-Remaining', Math.max(0, included - used));
  response.setHeader('X-Quota-Reset', Math.max(0, Math.ceil((periodEnd.getTime() - now) / 1000)));
}
