import type { BillingPeriod } from './billing-period.js';

/** What the quota guard decided for a request, handed to the metering interceptor. */
export interface MeteringTicket {
  meter: string;
  cost: number;
  period: BillingPeriod;
  included: number | null;
  usedBefore: number;
  idempotencyKey: string | null;
  release: () => void;
}

/** What a caller may send as an idempotency key (header or ingest API): 1-255 visible ASCII characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const TICKET = Symbol('tollgate.metering-ticket');

export function attachTicket(request: object, ticket: MeteringTicket): void {
  (request as { [TICKET]?: MeteringTicket })[TICKET] = ticket;
}

export function ticketOf(request: object): MeteringTicket | undefined {
  return (request as { [TICKET]?: MeteringTicket })[TICKET];
}
