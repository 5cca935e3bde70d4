import { existingRequestState, requestState } from '../common/index.js';
import type { BillingPeriod } from './billing-period.js';

/** What the quota guard decided for a request, handed to the metering interceptor. */
export interface MeteringTicket {
  meter: string;
  cost: number;
  period: BillingPeriod;
  included: number | null;
  usedBefore: bigint;
  idempotencyKey: string | null;
  /** A repeat of a request already recorded (nothing to record) or still in flight (recorded, counted once). */
  duplicate: 'recorded' | 'in_flight' | null;
  release: () => void;
}

/** The ledger key of a metered request's event: its Idempotency-Key, namespaced apart from the ingest API's. */
export const requestEventKey = (idempotencyKey: string) => `idem:${idempotencyKey}`;

/** What a caller may send as an idempotency key (header or ingest API): 1-255 visible ASCII characters. */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function attachTicket(request: object, ticket: MeteringTicket): void {
  requestState(request).ticket = ticket;
}

export function ticketOf(request: object): MeteringTicket | undefined {
  // Only attachTicket writes the slot.
  return existingRequestState(request)?.ticket as MeteringTicket | undefined;
}
