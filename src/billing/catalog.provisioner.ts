import { ConflictException, Inject, Injectable, Logger } from '@nestjs/common';
import Stripe from 'stripe';
import { multiplyDecimals } from '../common/decimal.js';
import { CUSTOM, type OveragePricing, type TierDefinition } from '../config/tier-catalog.js';
import { TiersService } from '../tiers/tiers.service.js';
import { InjectStripe, type StripeClient, stripeNames } from './stripe.client.js';

export interface ProvisionReport {
  created: string[];
  existing: string[];
}

/** Stripe prices are in cents: "0.002" USD per call is unit_amount_decimal "0.2". */
const toCents = (amount: string) => multiplyDecimals(amount, '100');

type PriceTier = Stripe.PriceCreateParams.Tier;
const decimal = (value: string) => Stripe.Decimal.from(value);

/**
 * The metered price's tiers: the included quantity is free, then the overage pricing. Stripe gets the
 * whole period's usage on the meter, so "included" lives in the price as a free first tier.
 */
function meteredTiers(included: number, overage: OveragePricing): PriceTier[] {
  const free: PriceTier[] = included > 0 ? [{ up_to: included, unit_amount_decimal: decimal('0') }] : [];
  if (overage.mode === 'per_unit') return [...free, { up_to: 'inf', unit_amount_decimal: decimal(toCents(overage.unitPrice ?? '0')) }];
  return [
    ...free,
    ...overage.bands.map((band) => ({
      up_to: band.upTo === null ? ('inf' as const) : included + band.upTo,
      unit_amount_decimal: decimal(toCents(band.unitPrice)),
      ...(band.flatFee !== '0' && { flat_amount: Number(toCents(band.flatFee)) }),
    })),
  ];
}

/**
 * Creates the Stripe side of tiers.yaml, idempotently: a Meter per meter (found by event_name), a Product
 * per priced tier (our own id), a licensed base Price and a metered Price linked to the Meter (found by
 * lookup_key). A second run creates nothing; a changed amount creates a new Price and moves the lookup_key.
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
    const report: ProvisionReport = { created: [], existing: [] };
    const meters = new Map<string, Stripe.Billing.Meter>();
    const existingMeters = await stripe.billing.meters.list({ limit: 100, status: 'active' });
    for (const meter of this.tiers.catalog.meters) {
      const eventName = stripeNames.meterEvent(meter.name);
      let found = existingMeters.data.find((candidate) => candidate.event_name === eventName);
      if (found) report.existing.push(`meter ${eventName}`);
      else {
        found = await stripe.billing.meters.create(
          {
            display_name: meter.name,
            event_name: eventName,
            // Always sum: each push carries the delta of a counter's total, and a `count` meter's counter already counts
            // usage events; a Stripe `count` meter would bill the number of pushes instead.
            default_aggregation: { formula: 'sum' },
            customer_mapping: { event_payload_key: 'stripe_customer_id', type: 'by_id' },
            value_settings: { event_payload_key: 'value' },
          },
          { idempotencyKey: `tollgate-meter-${eventName}` },
        );
        report.created.push(`meter ${eventName}`);
      }
      meters.set(meter.name, found);
    }
    for (const tier of this.tiers.list()) {
      if (tier.price === CUSTOM) continue; // custom deals are priced per customer, by hand
      await this.provisionTier(stripe, tier, meters, report);
    }
    this.logger.log(`provisioned: ${report.created.length} created, ${report.existing.length} already there`);
    return report;
  }

  private async provisionTier(stripe: Stripe, tier: TierDefinition, meters: Map<string, Stripe.Billing.Meter>, report: ProvisionReport) {
    if (tier.price === CUSTOM) return;
    const productId = stripeNames.product(tier.name);
    try {
      await stripe.products.retrieve(productId);
      report.existing.push(`product ${productId}`);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
      await stripe.products.create({ id: productId, name: `${tier.name} plan`, metadata: { tollgate_tier: tier.name } }, { idempotencyKey: `tollgate-product-${productId}` });
      report.created.push(`product ${productId}`);
    }
    const wanted: Array<{ lookupKey: string; params: Stripe.PriceCreateParams; matches: (price: Stripe.Price) => boolean }> = [
      {
        lookupKey: stripeNames.basePrice(tier.name),
        params: {
          product: productId,
          currency: tier.price.currency,
          unit_amount: tier.price.amountMinor,
          recurring: { interval: tier.price.interval, usage_type: 'licensed' },
          metadata: { tollgate_tier: tier.name, tollgate_kind: 'base' },
        },
        matches: (price) => price.unit_amount === (tier.price as { amountMinor: number }).amountMinor,
      },
    ];
    for (const [meterName, terms] of Object.entries(tier.meters)) {
      const meter = meters.get(meterName);
      if (!meter || !terms.overage || terms.included === CUSTOM) continue;
      const tiers = meteredTiers(terms.included, terms.overage);
      wanted.push({
        lookupKey: stripeNames.meteredPrice(tier.name, meterName),
        params: {
          product: productId,
          currency: terms.overage.currency,
          recurring: { interval: 'month', usage_type: 'metered', meter: meter.id },
          billing_scheme: 'tiered',
          tiers_mode: terms.overage.mode === 'volume' ? 'volume' : 'graduated',
          tiers,
          metadata: { tollgate_tier: tier.name, tollgate_kind: 'metered', tollgate_meter: meterName },
        },
        matches: (price) => price.recurring?.meter === meter.id && JSON.stringify(price.metadata ?? {}).includes(meterName),
      });
    }
    const lookup = await stripe.prices.list({ lookup_keys: wanted.map((entry) => entry.lookupKey), active: true, limit: 100 });
    for (const entry of wanted) {
      const current = lookup.data.find((price) => price.lookup_key === entry.lookupKey);
      if (current && entry.matches(current)) {
        report.existing.push(`price ${entry.lookupKey}`);
        continue;
      }
      await stripe.prices.create(
        { ...entry.params, lookup_key: entry.lookupKey, transfer_lookup_key: current !== undefined },
        { idempotencyKey: `tollgate-price-${entry.lookupKey}-${JSON.stringify(entry.params).length}-${current?.id ?? 'new'}` },
      );
      report.created.push(`price ${entry.lookupKey}`);
    }
  }

  private requireStripe(): Stripe {
    if (!this.stripe) throw new ConflictException({ error: 'stripe_disabled', message: 'Stripe is off: set STRIPE_SECRET_KEY to provision.' });
    return this.stripe;
  }
}
