import { Inject, Injectable } from '@nestjs/common';
import { billingAnchor } from '../customers/customer.entity.js';
import { CustomersService } from '../customers/customers.service.js';
import { periodContaining } from '../metering/billing-period.js';
import { UsageLedger } from '../metering/usage-ledger.js';
import { TiersService } from '../tiers/tiers.service.js';
import { type InvoicePreview, previewInvoice } from './pricing.js';

/** Billing as other modules (the portal) see it: what a customer will pay this period. */
@Injectable()
export class BillingService {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
  ) {}

  async invoicePreview(customerId: string, at = new Date()): Promise<InvoicePreview & { customerId: string; tier: string; period: { start: string; end: string } }> {
    const customer = await this.customers.get(customerId);
    const anchor = billingAnchor(customer);
    const period = periodContaining(at, anchor);
    const usage = await this.ledger.countersForPeriod(customer.id, period.start);
    const preview = previewInvoice(this.tiers.get(customer.tier), this.customers.limitsOf(customer), customer.overrides.price, usage);
    return { customerId: customer.id, tier: customer.tier, period: { start: period.start.toISOString(), end: period.end.toISOString() }, ...preview };
  }
}
