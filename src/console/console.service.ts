import { Inject, Injectable } from '@nestjs/common';
import { ApiKeysService } from '../api-keys/index.js';
import { BillingService, formatMinor, PushOutbox, ReconciliationService, StripeWebhookErrors } from '../billing/index.js';
import { toMinorUnits } from '../common/index.js';
import { type CustomerEntity, type CustomerStatus, CustomersService } from '../customers/index.js';
import { UsageIngestor, UsageService } from '../metering/index.js';
import { RefusalWindow } from '../metrics/index.js';
import { NotificationsService } from '../notifications/index.js';
import { TiersService } from '../tiers/index.js';

/** The console lists at most this many customers (each one's usage report is read): a console, not an export. */
export const CONSOLE_CUSTOMER_LIMIT = 1000;
/** Events waiting in the JetStream stream past which the ledger is falling behind (a few seconds of heavy load). */
const INGEST_LAG_ATTENTION = 10_000;
/** A push still pending after this long needs a look (the sync runs hourly by default). */
const STUCK_PUSH_MS = 2 * 3600_000;

export interface AttentionItem {
  kind: 'failed_push' | 'stuck_push' | 'drift' | 'dead_letter' | 'spool' | 'ingest' | 'webhook_error';
  customerId: string;
  /** The meter (pushes, drift) or the notification kind (dead letters). */
  meter: string;
  detail: string;
}

export interface CustomerRow {
  id: string;
  name: string;
  email: string | null;
  tier: string;
  status: CustomerStatus;
  stripeCustomerId: string | null;
  usage: number | string;
  percentUsed: number | null;
}

const dayOf = (date: Date) => date.toISOString().slice(0, 10);
const sumQuantity = (values: Array<number | string>) => values.reduce((total, value) => total + BigInt(value), 0n);
/** Exact totals: a JSON number while safe, else a decimal string (as the API does). */
const quantity = (value: bigint): number | string => (value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString());

/**
 * What the operator console shows, read from the services the admin API uses (no figure computed twice):
 * customers, usage reports, invoice previews, the push outbox, reconciliation, the 429 window.
 */
@Injectable()
export class ConsoleService {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(UsageService) private readonly usage: UsageService,
    @Inject(BillingService) private readonly billing: BillingService,
    @Inject(PushOutbox) private readonly outbox: PushOutbox,
    @Inject(ReconciliationService) private readonly reconciliation: ReconciliationService,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(NotificationsService) private readonly notifications: NotificationsService,
    @Inject(RefusalWindow) private readonly refusals: RefusalWindow,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(StripeWebhookErrors) private readonly webhookErrors: StripeWebhookErrors,
  ) {}

  async overview(now = new Date()) {
    const all = await this.allCustomers();
    const active = all.filter((customer) => customer.status === 'active');
    const reports = await Promise.all(active.map((customer) => this.usage.report(customer.id)));
    const previews = await Promise.all(active.map((customer) => this.billing.invoicePreview(customer.id, now)));
    const projections = await Promise.all(active.map((customer) => this.billing.invoicePreview(customer.id, now, { projected: true })));

    let mrrMinor = 0n;
    let currency = 'usd';
    for (const customer of active) {
      const base = this.billing.monthlyBaseMinor(customer);
      if (!base) continue;
      mrrMinor += base.amountMinor;
      currency = base.currency;
    }
    // Metered lines of this period's invoice previews: the overage accrued so far (what the invoices will bill for usage).
    const meteredMinor = (list: typeof previews) => {
      let minor = 0n;
      for (const preview of list) for (const line of preview.lines) if (line.meter !== null) minor += toMinor(line.amount);
      return minor;
    };
    const overageMinor = meteredMinor(previews);
    // The same previews for the usage each customer's period reaches at its current run rate.
    const projectedMinor = meteredMinor(projections);
    const byTier: Record<string, number> = {};
    for (const customer of active) byTier[customer.tier] = (byTier[customer.tier] ?? 0) + 1;

    const today = dayOf(now);
    const yesterday = dayOf(new Date(now.getTime() - 86_400_000));
    const daily = reports.flatMap((report) => report.daily);
    const usageOn = (day: string) => quantity(sumQuantity(daily.filter((row) => row.date === day).map((row) => row.quantity)));

    return {
      generatedAt: now.toISOString(),
      currency,
      mrr: formatMinor(mrrMinor),
      overageThisPeriod: formatMinor(overageMinor),
      projectedOverageThisPeriod: formatMinor(projectedMinor),
      activeCustomers: active.length,
      activeByTier: byTier,
      usage: { today: usageOn(today), yesterday: usageOn(yesterday) },
      tooManyRequestsLastHour: this.refusals.lastHour(now.getTime()),
      attention: await this.attention(now),
    };
  }

  /** Failed pushes not re-sent, pushes pending for hours, dead-lettered notifications, spooled usage, Stripe webhook errors (24 h, this instance), counters whose Stripe total drifted. */
  async attention(now = new Date()): Promise<AttentionItem[]> {
    const items: AttentionItem[] = [];
    for (const push of await this.outbox.unresolvedFailures(50)) {
      items.push({
        kind: 'failed_push',
        customerId: push.customerId,
        meter: push.meter,
        detail:
          push.failureCode === 'retry_requested'
            ? `push ${push.id} failed; a retry is requested (re-sent at the next sync)`
            : `push ${push.id} failed: ${push.failureCode ?? push.lastError ?? 'unknown error'}`,
      });
    }
    for (const push of await this.outbox.recent(100, 'pending')) {
      if (now.getTime() - push.createdAt.getTime() > STUCK_PUSH_MS) {
        items.push({ kind: 'stuck_push', customerId: push.customerId, meter: push.meter, detail: `push ${push.id} pending since ${push.createdAt.toISOString()}` });
      }
    }
    for (const dead of await this.notifications.deadLetters(50)) {
      items.push({
        kind: 'dead_letter',
        customerId: dead.customerId,
        meter: dead.kind,
        detail: `${dead.channel} delivery of notification ${dead.notificationId} gave up after ${dead.attempts} attempt(s)${dead.lastError ? `: ${dead.lastError}` : ''}`,
      });
    }
    // This instance's spool (events kept while the database was unreachable): replayed when it is back.
    const spooled = await this.ingestor.pendingSpoolFiles();
    if (spooled > 0) items.push({ kind: 'spool', customerId: '', meter: '', detail: `${spooled} spool file(s) of usage events wait for replay on this instance` });
    // The JetStream transport: away (this instance meters the direct way), or events piling up ahead of the ledger.
    const transport = await this.ingestor.transportStatus();
    if (transport.transport === 'jetstream' && !transport.connected) {
      items.push({ kind: 'ingest', customerId: '', meter: '', detail: 'NATS JetStream is unreachable from this instance: usage takes the direct path (database or spool)' });
    } else if (transport.transport === 'jetstream' && (transport.pending ?? 0) + (transport.ackPending ?? 0) >= INGEST_LAG_ATTENTION) {
      items.push({ kind: 'ingest', customerId: '', meter: '', detail: `${(transport.pending ?? 0) + (transport.ackPending ?? 0)} usage events wait in the stream for the ledger (is the database reachable?)` });
    }
    for (const failure of this.webhookErrors.since(new Date(now.getTime() - 24 * 3600_000))) {
      items.push({ kind: 'webhook_error', customerId: '', meter: '', detail: `Stripe webhook refused at ${failure.at}: ${failure.error} (${failure.message})` });
    }
    const report = await this.reconciliation.reconcile('current');
    for (const row of report.rows) {
      if (row.drift !== null && row.drift !== 0) items.push({ kind: 'drift', customerId: row.customerId, meter: row.meter, detail: `Stripe differs by ${row.drift}` });
    }
    return items;
  }

  /** Customers matching `query` (id, name, email, external or Stripe id), with this period's usage of their main meter. */
  async customerRows(filter: { q?: string; tier?: string; status?: CustomerStatus; sort?: 'usage' | 'percent' | 'name' }): Promise<CustomerRow[]> {
    const needle = filter.q?.trim().toLowerCase();
    const matching = (await this.allCustomers(filter)).filter(
      (customer) =>
        !needle ||
        [customer.id, customer.name, customer.email, customer.externalId, customer.stripeCustomerId].some((field) => field?.toLowerCase().includes(needle)),
    );
    const rows = await Promise.all(
      matching.map(async (customer): Promise<CustomerRow> => {
        const main = (await this.usage.report(customer.id)).meters[0];
        return {
          id: customer.id,
          name: customer.name,
          email: customer.email,
          tier: customer.tier,
          status: customer.status,
          stripeCustomerId: customer.stripeCustomerId,
          usage: main?.total ?? 0,
          percentUsed: main?.percentUsed ?? null,
        };
      }),
    );
    const sort = filter.sort ?? 'name';
    if (sort === 'usage') rows.sort((a, b) => compareBig(BigInt(b.usage), BigInt(a.usage)));
    else if (sort === 'percent') rows.sort((a, b) => (b.percentUsed ?? -1) - (a.percentUsed ?? -1));
    else rows.sort((a, b) => a.name.localeCompare(b.name));
    return rows;
  }

  async customerDetail(customerId: string) {
    const customer = await this.customers.get(customerId);
    const [usage, keys, notifications, invoice] = await Promise.all([
      this.usage.report(customer.id),
      this.apiKeys.list(customer.id, { limit: 100 }),
      this.notifications.list(customer.id, { limit: 20 }),
      this.billing.invoicePreview(customer.id),
    ]);
    return { customer: this.customers.view(customer), tiers: this.tiers.list().map((tier) => tier.name), usage, keys: keys.data, notifications, invoice };
  }

  private async allCustomers(filter: { tier?: string; status?: CustomerStatus } = {}): Promise<CustomerEntity[]> {
    const customers: CustomerEntity[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.customers.list({ tier: filter.tier, status: filter.status, limit: 200, cursor });
      customers.push(...page.data);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && customers.length < CONSOLE_CUSTOMER_LIMIT);
    return customers.slice(0, CONSOLE_CUSTOMER_LIMIT);
  }
}

/** Invoice line amounts are whole cents already. */
const toMinor = (amount: string) => BigInt(toMinorUnits(amount) ?? 0);

const compareBig = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
