import { Inject, Injectable } from '@nestjs/common';
import { TollgateConfig } from '../config/index.js';
import type { TierCatalog, TierDefinition } from '../config/index.js';
import { compileEndpointGlob, normalizePath } from './endpoint-glob.js';

const MAX_REMEMBERED_PATHS = 10_000;

/** Read access to the tier catalog loaded from tiers.yaml. */
@Injectable()
export class TiersService {
  private readonly byName: Map<string, TierDefinition>;
  /** Tiers in ascending rank with their compiled endpoint globs. */
  private readonly globs: Array<{ tier: TierDefinition; patterns: RegExp[] }>;
  /** Per-endpoint costs by tier, including those of the tiers below (tiers are cumulative). */
  private readonly costs: Map<string, Array<{ pattern: RegExp; cost: number }>>;
  private readonly requiredByPath = new Map<string, TierDefinition | null>();

  constructor(@Inject(TollgateConfig) private readonly config: TollgateConfig) {
    this.byName = new Map(config.catalog.tiers.map((tier) => [tier.name, tier]));
    this.globs = [...config.catalog.tiers]
      .sort((a, b) => a.rank - b.rank)
      .map((tier) => ({ tier, patterns: tier.endpoints.map(compileEndpointGlob) }));
    this.costs = new Map(
      this.globs.map(({ tier }) => [
        tier.name,
        this.globs
          .filter((entry) => entry.tier.rank <= tier.rank)
          .reverse()
          .flatMap((entry) =>
            Object.entries(entry.tier.endpointCosts).map(([pattern, cost]) => ({ pattern: compileEndpointGlob(pattern), cost })),
          ),
      ]),
    );
  }

  /** The catalog's cost for `path` for a consumer of `tier` (its own entries first), or null. */
  endpointCost(tier: TierDefinition, path: string): number | null {
    const costs = this.costs.get(tier.name);
    if (!costs?.length) return null;
    const normalized = normalizePath(path);
    return costs.find((entry) => entry.pattern.test(normalized))?.cost ?? null;
  }

  /**
   * The lowest tier whose endpoint globs cover `path` (tiers are cumulative: higher tiers include it too),
   * or null when no tier lists the path — then only `@Tier()` decides.
   */
  requiredTierForPath(path: string): TierDefinition | null {
    const known = this.requiredByPath.get(path);
    if (known !== undefined) return known;
    const normalized = normalizePath(path);
    const required = this.globs.find(({ patterns }) => patterns.some((pattern) => pattern.test(normalized)))?.tier ?? null;
    // Bounded: paths with ids in them are many; start over rather than grow without end.
    if (this.requiredByPath.size >= MAX_REMEMBERED_PATHS) this.requiredByPath.clear();
    this.requiredByPath.set(path, required);
    return required;
  }

  get catalog(): TierCatalog {
    return this.config.catalog;
  }

  list(): TierDefinition[] {
    return this.config.catalog.tiers;
  }

  find(name: string): TierDefinition | undefined {
    return this.byName.get(name);
  }

  get(name: string): TierDefinition {
    const tier = this.byName.get(name);
    if (!tier) throw new Error(`unknown tier "${name}"`);
    return tier;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }
}
