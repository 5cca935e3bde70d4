import type { Request } from 'express';

/** A request's cost: a fixed number or computed from the request (evaluated before the handler runs). */
export type MeteredCost = number | ((request: Request) => number);

export interface MeteredOptions {
  /** How many units one call uses (default 1). The same cost weighs the rate limit and the quota. */
  cost?: MeteredCost;
}

export interface MeteredMetadata {
  meter: string;
  cost?: MeteredCost;
}

export const METERED = 'tollgate:metered';
