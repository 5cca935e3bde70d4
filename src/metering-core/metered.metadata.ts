import type { HttpRequest } from '../common/index.js';

/** A request's cost: a fixed number or computed from the request (evaluated before the handler runs). */
export type MeteredCost = number | CostOfRequest;

/**
 * Declared as a method so a function typed for the adapter's own request (`(request: express.Request) => …` or
 * `(request: FastifyRequest) => …`) is accepted too: the handler's request object is what it receives.
 */
type CostOfRequest = { bivariant(request: HttpRequest): number }['bivariant'];

export interface MeteredOptions {
  /** How many units one call uses (default 1). The same cost weighs the rate limit and the quota. */
  cost?: MeteredCost;
}

export interface MeteredMetadata {
  meter: string;
  cost?: MeteredCost;
}

export const METERED = 'tollgate:metered';
