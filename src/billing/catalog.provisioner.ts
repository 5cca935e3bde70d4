import { ConflictException, Inject, Injectable, Logger } from '@nestjs/common';
import type Stripe from 'stripe';
import { CUSTOM, type TierDefinition } from '../config/index.js';
import { TiersService } from '../tiers/index.js';
import { idempotencyKeyFor, priceMatches, pricesByLookupKey, wantedPrices } from './price-catalog.js';
import { InjectStripe, loadStripe, type StripeClient, stripeNames } from './stripe.client.js';

export interface ProvisionReport {
  created: string[];
  existing: string[];
  /** Prices replaced by a changed one (their lookup_key moved to it) and archived. */
  deactivated: string[];
  /** What provisioning found wrong and cannot fix by itself (e.g. a meter from an earlier version that counts pushes). */
  problems: string[];
}

/** One Stripe object tiers.yaml asks for, and whether Stripe has it as asked. */
export interface CatalogItemState {
  kind: 'meter' | 'product' | 'price';
  name: string;
  state: 'in_sync' | 'missing' | 'differs';
  detail?: string;
}

/** Provisioning state: what `POST /v1/billing/provision` would create or replace (null items when Stripe is off). */
export interface CatalogState {
  stripe: boolean;
  inSync: boolean;
  items: CatalogItemState[];
}

/**
 * Creates the Stripe side of tiers.yaml, idempotently: a Meter per meter (found by event_name), a Product
 * per priced tier (our own id), a licensed base Price and a metered Price linked to the Meter (found by
 * lookup_key). A second run creates nothing. Any change of a price's terms (amounts, tiers, mode, interval,
 * currency, meter) creates a new Price that takes over the lookup_key (`transfer_lookup_key`), and the old one
 * is archived: Stripe prices are immutable, and subscriptions already on the old price keep it until changed.
 * Idempotency keys hash the request's parameters, so a changed price never collides with an earlier key.
 */
@Injectable()
export class CatalogProvisioner {
  private readonly logger = new Logger('StripeProvisioning');

  constructor(
    @InjectStripe() private readonly stripe: StripeClient,
    @Inject(TiersService) private readonly tiers: TiersService,
  ) {}

  async provision(): Promise<ProvisionReport> {
    const stripe = this.requireStripe();
    const report: ProvisionReport = { created: [], existing: [], deactivated: [], problems: [] };
    const meters = new Map<string, Stripe.Billing.Meter>();
    // Every active meter, all pages: an account may hold more than one page of meters.
    const existingMeters = await stripe.billing.meters.list({ limit: 100, status: 'active' }).autoPagingToArray({ limit: 10_000 });
    for (const meter of this.tiers.catalog.meters) {
      const eventName = stripeNames.meterEvent(meter.name);
      let found = existingMeters.find((candidate) => candidate.event_name === eventName);
      if (found) {
        report.existing.push(`meter ${eventName}`);
        if (found.default_aggregation.formula !== 'sum') {
          // Made by an earlier Tollgate: Stripe would bill the number of pushes. Replacing it is a migration of every
          // subscription's metered price, so it is the operator's call, not a side effect of provisioning.
          const problem =
            `meter ${eventName} (${found.id}) aggregates by "${found.default_aggregation.formula}", but each push carries a delta of a total: ` +
            `Stripe bills the number of pushes. Create a sum meter for the event name, move subscriptions' metered prices to it, then deactivate this one.`;
          this.logger.error(problem);
          report.problems.push(problem);
        }
      }
      else {
        const params: Stripe.Billing.MeterCreateParams = {
          display_name: meter.name,
          event_name: eventName,
          // Always sum: each push carries the delta of a counter's total, and a `count` meter's counter already counts
          // usage events; a Stripe `count` meter would bill the number of pushes instead.
          default_aggregation: { formula: 'sum' },
          customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
          value_settings: { event_payload_key: 'value' },
        };
        found = await stripe.billing.meters.create(params, { idempotencyKey: idempotencyKeyFor('meter', eventName, params) });
        report.created.push(`meter ${eventName}`);
      }
      meters.set(meter.name, found);
    }
    for (const tier of this.tiers.list()) {
      if (tier.price === CUSTOM) continue; // custom deals are priced per customer, by hand
      await this.provisionTier(stripe, tier, meters, report);
    }
    this.logger.log(`provisioned: ${report.created.length} created, ${report.existing.length} already there, ${report.deactivated.length} archived`);
    return report;
  }

  /** Compares Stripe with tiers.yaml without changing anything: the same lookups and comparisons as provision(). */
  async state(): Promise<CatalogState> {
    if (!this.stripe) return { stripe: false, inSync: false, items: [] };
    const stripe = this.stripe;
    const items: CatalogItemState[] = [];
    const existingMeters = await stripe.billing.meters.list({ limit: 100, status: 'active' }).autoPagingToArray({ limit: 10_000 });
    const meterIds = new Map<string, string>();
    for (const meter of this.tiers.catalog.meters) {
      const eventName = stripeNames.meterEvent(meter.name);
      const found = existingMeters.find((candidate) => candidate.event_name === eventName);
      // A meter not created yet still has its metered prices wanted (listed as missing, as provisioning would create them).
      meterIds.set(meter.name, found?.id ?? 'meter_not_provisioned');
      items.push(
        !found
          ? { kind: 'meter', name: eventName, state: 'missing' }
          : found.default_aggregation.formula !== 'sum'
            ? { kind: 'meter', name: eventName, state: 'differs', detail: `aggregates by ${found.default_aggregation.formula}, not sum` }
            : { kind: 'meter', name: eventName, state: 'in_sync' },
      );
    }
    await loadStripe(); // wantedPrices writes Stripe.Decimal values
    for (const tier of this.tiers.list()) {
      if (tier.price === CUSTOM) continue;
      const productId = stripeNames.product(tier.name);
      const product = await stripe.products.retrieve(productId).catch((error: { statusCode?: number }) => {
        if (error.statusCode === 404) return null;
        throw error;
      });
      items.push({ kind: 'product', name: productId, state: product ? 'in_sync' : 'missing' });
      const wanted = wantedPrices(tier, productId, meterIds);
      const current = await pricesByLookupKey(stripe, wanted.map((entry) => entry.lookupKey));
      for (const entry of wanted) {
        const existing = current.get(entry.lookupKey);
        items.push({ kind: 'price', name: entry.lookupKey, state: !existing ? 'missing' : priceMatches(existing, entry) ? 'in_sync' : 'differs' });
      }
    }
    return { stripe: true, inSync: items.every((item) => item.state === 'in_sync'), items };
  }

  private async provisionTier(stripe: Stripe, tier: TierDefinition, meters: Map<string, Stripe.Billing.Meter>, report: ProvisionReport) {
    if (tier.price === CUSTOM) return;
    const productId = stripeNames.product(tier.name);
    try {
      await stripe.products.retrieve(productId);
      report.existing.push(`product ${productId}`);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      const params: Stripe.ProductCreateParams = { id: productId, name: `${tier.name} plan`, metadata: { tollgate_tier: tier.name } };
      await stripe.products.create(params, { idempotencyKey: idempotencyKeyFor('product', productId, params) });
      report.created.push(`product ${productId}`);
    }
    await this.provisionPrices(stripe, tier, productId, meters, report);
  }

  /** Creates what is missing or changed, moves the lookup_key to it and archives what it replaces. */
  private async provisionPrices(stripe: Stripe, tier: TierDefinition, productId: string, meters: Map<string, Stripe.Billing.Meter>, report: ProvisionReport) {
    const meterIds = new Map([...meters].map(([name, meter]) => [name, meter.id]));
    await loadStripe(); // wantedPrices writes Stripe.Decimal values (loaded already when the client was made)
    const wanted = wantedPrices(tier, productId, meterIds);
    const current = await pricesByLookupKey(stripe, wanted.map((entry) => entry.lookupKey));
    for (const entry of wanted) {
      const existing = current.get(entry.lookupKey);
      let live: Stripe.Price;
      if (existing && priceMatches(existing, entry)) {
        report.existing.push(`price ${entry.lookupKey}`);
        live = existing;
      } else {
        const params: Stripe.PriceCreateParams = { ...entry.params, lookup_key: entry.lookupKey, transfer_lookup_key: true };
        // What it replaces is part of the key: A → B → A creates a third price, not a replay of the first — and a price
        // archived by hand is replaced by a new one, not by the replay of its own creation.
        const replaced = existing ?? (await stripe.prices.list({ lookup_keys: [entry.lookupKey], active: false, limit: 1 })).data[0];
        live = await stripe.prices.create(params, { idempotencyKey: idempotencyKeyFor('price', entry.lookupKey, { params, replaces: replaced?.id ?? null }) });
        report.created.push(`price ${entry.lookupKey}`);
        // The price it replaced, by id: one made before prices carried `tollgate_lookup_key` is not found below.
        if (existing && existing.metadata?.tollgate_lookup_key !== entry.lookupKey) await this.archive(stripe, existing.id, entry.lookupKey, report);
      }
      await this.archiveReplaced(stripe, productId, entry.lookupKey, live.id, report);
    }
  }

  /**
   * Archives the product's other active prices made for this lookup_key (found by metadata, since the key
   * itself moved): right after a replacement, and on a later run when a crash came between the two steps.
   */
  private async archiveReplaced(stripe: Stripe, productId: string, lookupKey: string, liveId: string, report: ProvisionReport) {
    for await (const price of stripe.prices.list({ product: productId, active: true, limit: 100 })) {
      if (price.id === liveId || price.metadata?.tollgate_lookup_key !== lookupKey) continue;
      await this.archive(stripe, price.id, lookupKey, report);
    }
  }

  private async archive(stripe: Stripe, priceId: string, lookupKey: string, report: ProvisionReport) {
    await stripe.prices.update(priceId, { active: false }, { idempotencyKey: idempotencyKeyFor('price-archive', priceId, { active: false }) });
    report.deactivated.push(`price ${priceId} (${lookupKey})`);
  }

  private requireStripe(): Stripe {
    if (!this.stripe) throw new ConflictException({ error: 'stripe_disabled', message: 'Stripe is off: set STRIPE_SECRET_KEY to provision.' });
    return this.stripe;
  }
}
