import { SetMetadata } from '@nestjs/common';

export const MINIMUM_TIER = 'tollgate:minimum-tier';

/**
 * The lowest tier allowed to call a route or controller: `@Tier('pro')` admits pro and every tier above it
 * (order from tiers.yaml). Endpoint globs in tiers.yaml are enforced as well; the stricter one wins.
 */
export const Tier = (name: string) => SetMetadata(MINIMUM_TIER, name);
