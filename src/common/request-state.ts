import { requestPath } from './http-exchange.js';

/**
 * What the request path keeps on one request: ONE symbol-keyed property holding an object of a fixed shape.
 *
 * Each guard used to add its own symbol-keyed property (the consumer, the cost, the ticket, "charged", "reserved").
 * A request object from Node or Express already holds dozens of properties, and every property added to it is a
 * new hidden class or a dictionary insert: five per request were ~4 % of a metered request's CPU in the profile
 * (issue "Speed"). One add, then monomorphic field stores on a small object, costs a fraction of that.
 *
 * The slots are typed by the modules that own them (api-keys reads `consumer` as its `Consumer`, metering `ticket`
 * as its ticket); this module only carries them.
 */
export class RequestState {
  /** Set by ApiKeyGuard (or the ingest guard): who is calling. */
  consumer: unknown = undefined;
  /** Set by QuotaGuard: the quota decision the metering interceptor records. */
  ticket: unknown = undefined;
  /** The request's cost, resolved once (a `(req) => number` cost runs once; both guards weigh the same number). */
  cost: number | undefined = undefined;
  /** The path without its query string, computed once (Express's `req.path` parses on every read). */
  path: string | undefined = undefined;
  /** The steps that have run for this request (`RequestStep` bits). */
  steps = 0;
}

/**
 * Steps that must run once per request even when Nest runs a guard twice (a host app may apply the guards globally
 * and with `@UseGuards(...TOLLGATE_GUARDS)`), because they charge: the rate limit and the quota reservation.
 */
export const RequestStep = { rateLimitCharged: 1, quotaReserved: 2 } as const;
export type RequestStep = (typeof RequestStep)[keyof typeof RequestStep];

const STATE = Symbol('tollgate.request-state');

interface WithState {
  [STATE]?: RequestState;
}

/** The request's state, created on first use. */
export function requestState(request: object): RequestState {
  return ((request as WithState)[STATE] ??= new RequestState());
}

/** The request's state if a step of the request path has created it (reading allocates nothing). */
export function existingRequestState(request: object): RequestState | undefined {
  return (request as WithState)[STATE];
}

/** True the first time `step` asks for `request`, false on every later call. */
export function firstRunFor(request: object, step: RequestStep): boolean {
  const state = requestState(request);
  if ((state.steps & step) !== 0) return false;
  state.steps |= step;
  return true;
}

/** The request's path without its query string, computed once per request. */
export function pathOf(request: object): string {
  const state = requestState(request);
  return (state.path ??= requestPath(request));
}
