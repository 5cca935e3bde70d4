import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { CUSTOM, DEFAULT_METER } from '../config/index.js';
import { billingAnchor } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { type JsonQuantity, jsonQuantity } from '../common/index.js';
import { TiersService } from '../tiers/index.js';
import { periodFromQuery } from './billing-period.js';
import { UsageLedger } from './usage-ledger.js';

/** Quantities are JSON numbers while ≤ 2^53 − 1 and exact decimal strings beyond (see `JsonQuantity`). */
export interface MeterUsage {
  meter: string;
  total: JsonQuantity;
  included: number | null;
  remaining: JsonQuantity | null;
  overage: JsonQuantity;
  /** Rounded to 2 decimals (a display figure, not a quantity). */
  percentUsed: number | null;
}

export interface UsageReport {
  customerId: string;
  tier: string;
  period: { start: string; end: string };
  meters: MeterUsage[];
  daily: Array<{ date: string; meter: string; quantity: JsonQuantity }>;
}

/** Usage of one customer in one period, per meter, from the counters and the ledger. */
@Injectable()
export class UsageService {
  constructor(
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
  ) {}

  async report(customerId: string, periodQuery = 'current'): Promise<UsageReport> {
    const customer = await this.customers.get(customerId);
    const anchor = billingAnchor(customer);
    const period = periodFromQuery(periodQuery, anchor);
    if (!period) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'period must be "current" or YYYY-MM.',
        details: [{ field: 'period', problems: ['must be "current" or YYYY-MM'] }],
      });
    }
    const tier = this.tiers.get(customer.tier);
    const limits = this.customers.limitsOf(customer);
    const [totals, daily] = await Promise.all([this.ledger.countersForPeriod(customerId, period.start), this.ledger.dailySeries(customerId, period.start)]);
    const meterNames = new Set([DEFAULT_METER, ...Object.keys(tier.meters), ...totals.keys()]);
    const meters = [...meterNames].map((meter): MeterUsage => {
      const total = totals.get(meter) ?? 0n;
      const terms = tier.meters[meter];
      const included = meter === DEFAULT_METER ? limits.includedCalls : terms && terms.included !== CUSTOM ? terms.included : null;
      const includedUnits = BigInt(included ?? 0);
      return {
        meter,
        total: jsonQuantity(total),
        included,
        remaining: included === null ? null : jsonQuantity(includedUnits > total ? includedUnits - total : 0n),
        overage: jsonQuantity(included !== null && total > includedUnits ? total - includedUnits : 0n),
        percentUsed: included ? percentOf(total, includedUnits) : null,
      };
    });
    return {
      customerId,
      tier: customer.tier,
      period: { start: period.start.toISOString(), end: period.end.toISOString() },
      meters,
      daily: daily.map((point) => ({ ...point, quantity: jsonQuantity(point.quantity) })),
    };
  }
}

/** `part` as a percentage of `whole`, rounded half up to 2 decimals, computed exactly before the final number. */
function percentOf(part: bigint, whole: bigint): number {
  const hundredths = (part * 10_000n * 2n + whole) / (whole * 2n);
  return Number(hundredths) / 100;
}
