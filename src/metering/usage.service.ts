import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { CUSTOM, DEFAULT_METER } from '../config/tier-catalog.js';
import { billingAnchor } from '../customers/customer.entity.js';
import { CustomersService } from '../customers/customers.service.js';
import { TiersService } from '../tiers/tiers.service.js';
import { periodFromQuery } from './billing-period.js';
import { UsageLedger } from './usage-ledger.js';

export interface MeterUsage {
  meter: string;
  total: number;
  included: number | null;
  remaining: number | null;
  overage: number;
  percentUsed: number | null;
}

export interface UsageReport {
  customerId: string;
  tier: string;
  period: { start: string; end: string };
  meters: MeterUsage[];
  daily: Array<{ date: string; meter: string; quantity: number }>;
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
      const total = totals.get(meter) ?? 0;
      const terms = tier.meters[meter];
      const included = meter === DEFAULT_METER ? limits.includedCalls : terms && terms.included !== CUSTOM ? terms.included : null;
      return {
        meter,
        total,
        included,
        remaining: included === null ? null : Math.max(0, included - total),
        overage: included === null ? 0 : Math.max(0, total - included),
        percentUsed: included ? Math.round((total * 10_000) / included) / 100 : null,
      };
    });
    return {
      customerId,
      tier: customer.tier,
      period: { start: period.start.toISOString(), end: period.end.toISOString() },
      meters,
      daily,
    };
  }
}
