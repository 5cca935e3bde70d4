import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { In, type Repository } from 'typeorm';
import { newId } from '../common/index.js';
import { InjectTollgateRepository } from '../database/index.js';
import { TiersService } from '../tiers/index.js';
import { CustomerEntity, type CustomerOverrides, type CustomerStatus, type WebhookUrlSetBy } from './customer.entity.js';
import { CUSTOMER_CHANGED, TIER_CHANGED, type CustomerChangedEvent, type TierChangedEvent } from './customers.events.js';
import { effectiveLimits, overrideProblems, type EffectiveLimits } from './effective-limits.js';
import { toCustomerView, type CustomerView } from './customer.view.js';

export interface CreateCustomerInput {
  name: string;
  tier: string;
  email?: string;
  externalId?: string;
  overrides?: CustomerOverrides;
  webhookUrl?: string;
}

export interface UpdateCustomerInput {
  name?: string;
  tier?: string;
  status?: CustomerStatus;
  email?: string | null;
  overrides?: CustomerOverrides;
  webhookUrl?: string | null;
  /** Who sets `webhookUrl`: the operator unless said otherwise (the portal says "customer"). */
  webhookUrlSetBy?: WebhookUrlSetBy;
}

export interface CustomerPage {
  data: CustomerEntity[];
  nextCursor: string | null;
}

@Injectable()
export class CustomersService {
  private readonly recent = new Map<string, { customer: CustomerEntity; expiresAt: number }>();

  constructor(
    @InjectTollgateRepository(CustomerEntity) private readonly customers: Repository<CustomerEntity>,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
  ) {}

  async create(input: CreateCustomerInput): Promise<CustomerEntity> {
    const overrides = input.overrides ?? {};
    this.assertValidTier(input.tier, overrides);
    if (input.externalId && (await this.customers.existsBy({ externalId: input.externalId }))) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: `A customer with externalId "${input.externalId}" already exists.`,
        details: [{ field: 'externalId', problems: ['already in use'] }],
      });
    }
    const customer = this.customers.create({
      id: newId('cus'),
      name: input.name,
      email: input.email ?? null,
      externalId: input.externalId ?? null,
      tier: input.tier,
      status: 'active',
      overrides,
      webhookUrl: input.webhookUrl ?? null,
      webhookUrlSetBy: 'operator',
      stripeCustomerId: null,
      stripeSubscriptionId: null,
      periodStart: null,
      periodEnd: null,
    });
    return this.customers.save(customer);
  }

  async get(id: string): Promise<CustomerEntity> {
    const customer = await this.customers.findOneBy({ id });
    if (!customer) throw new NotFoundException({ error: 'customer_not_found', message: `No customer ${id}.` });
    return customer;
  }

  find(id: string): Promise<CustomerEntity | null> {
    return this.customers.findOneBy({ id });
  }

  /**
   * `find` through a short-lived in-process cache, for hot paths that read a customer per event (ingest,
   * usage alerts). Changes made here drop the entry at once; other instances' changes show within 2 s.
   */
  async findCached(id: string): Promise<CustomerEntity | null> {
    const hit = this.recent.get(id);
    if (hit && hit.expiresAt > Date.now()) return hit.customer;
    const customer = await this.find(id);
    // Only found customers are remembered: one created a moment ago elsewhere must not read as unknown.
    if (!customer) return null;
    if (this.recent.size >= 10_000) this.recent.clear();
    this.recent.set(id, { customer, expiresAt: Date.now() + 2_000 });
    return customer;
  }

  findByExternalId(externalId: string): Promise<CustomerEntity | null> {
    return this.customers.findOneBy({ externalId });
  }

  /** Customers with this email address, compared case-insensitively (an address may own several accounts). */
  findByEmail(email: string): Promise<CustomerEntity[]> {
    return this.customers.createQueryBuilder('c').where('lower(c.email) = lower(:email)', { email: email.trim() }).orderBy('c.id', 'ASC').take(20).getMany();
  }

  /** Newest first, keyset-paginated by id within creation time. */
  async list(filter: { tier?: string; status?: CustomerStatus; limit?: number; cursor?: string }): Promise<CustomerPage> {
    const limit = Math.min(filter.limit ?? 50, 200);
    const query = this.customers.createQueryBuilder('c').orderBy('c.id', 'ASC').take(limit + 1);
    if (filter.tier) query.andWhere('c.tier = :tier', { tier: filter.tier });
    if (filter.status) query.andWhere('c.status = :status', { status: filter.status });
    if (filter.cursor) query.andWhere('c.id > :cursor', { cursor: filter.cursor });
    const rows = await query.getMany();
    const data = rows.slice(0, limit);
    return { data, nextCursor: rows.length > limit ? data[data.length - 1].id : null };
  }

  async update(id: string, input: UpdateCustomerInput): Promise<CustomerEntity> {
    const customer = await this.get(id);
    const previousTier = customer.tier;
    const tier = input.tier ?? customer.tier;
    const overrides = input.overrides ?? customer.overrides;
    if (input.tier !== undefined || input.overrides !== undefined) this.assertValidTier(tier, overrides);
    Object.assign(customer, {
      ...(input.name !== undefined && { name: input.name }),
      ...(input.email !== undefined && { email: input.email }),
      ...(input.status !== undefined && { status: input.status }),
      ...(input.webhookUrl !== undefined && { webhookUrl: input.webhookUrl, webhookUrlSetBy: input.webhookUrlSetBy ?? 'operator' }),
      tier,
      overrides,
    });
    const saved = await this.customers.save(customer);
    this.recent.delete(id);
    this.events.emit(CUSTOMER_CHANGED, { customerId: id } satisfies CustomerChangedEvent);
    if (tier !== previousTier) {
      this.events.emit(TIER_CHANGED, { customerId: id, previousTier, tier, at: new Date() } satisfies TierChangedEvent);
    }
    return saved;
  }

  view(customer: CustomerEntity): CustomerView {
    return toCustomerView(customer, this.limitsOf(customer));
  }

  /** Stripe's view of a customer: subscription, tier and billing period (subscribe call and webhooks). */
  async applyBilling(
    id: string,
    billing: {
      tier?: string;
      status?: CustomerStatus;
      stripeCustomerId?: string | null;
      stripeSubscriptionId?: string | null;
      period?: { start: Date; end: Date } | null;
    },
  ): Promise<CustomerEntity> {
    const customer = await this.get(id);
    const previousTier = customer.tier;
    if (billing.tier !== undefined) this.assertValidTier(billing.tier, customer.overrides);
    // A subscription's end keeps the period it ended in, cut at the end (late usage of it still counts there).
    const ending = billing.period === null && customer.periodStart && customer.periodEnd;
    const ended = ending
      ? { endedPeriodStart: customer.periodStart, endedPeriodEnd: new Date(Math.min(customer.periodEnd!.getTime(), Math.max(Date.now(), customer.periodStart!.getTime() + 1))) }
      : {};
    Object.assign(customer, {
      ...(billing.tier !== undefined && { tier: billing.tier }),
      ...(billing.status !== undefined && { status: billing.status }),
      ...(billing.stripeCustomerId !== undefined && { stripeCustomerId: billing.stripeCustomerId }),
      ...(billing.stripeSubscriptionId !== undefined && { stripeSubscriptionId: billing.stripeSubscriptionId }),
      ...(billing.period !== undefined && { periodStart: billing.period?.start ?? null, periodEnd: billing.period?.end ?? null }),
      ...ended,
    });
    const saved = await this.customers.save(customer);
    this.recent.delete(id);
    this.events.emit(CUSTOMER_CHANGED, { customerId: id } satisfies CustomerChangedEvent);
    if (saved.tier !== previousTier) {
      this.events.emit(TIER_CHANGED, { customerId: id, previousTier, tier: saved.tier, at: new Date() } satisfies TierChangedEvent);
    }
    return saved;
  }

  /** Stores a webhook signing secret, already encrypted by the caller (notifications owns the key). */
  async setWebhookSecret(id: string, sealed: string): Promise<void> {
    await this.get(id);
    await this.customers.update({ id }, { webhookSecretEncrypted: sealed });
  }

  async webhookSecret(id: string): Promise<string | null> {
    const row = await this.customers.findOne({ where: { id }, select: { id: true, webhookSecretEncrypted: true } });
    return row?.webhookSecretEncrypted ?? null;
  }

  findByStripeCustomerId(stripeCustomerId: string): Promise<CustomerEntity | null> {
    return this.customers.findOneBy({ stripeCustomerId });
  }

  /** These customers (those that exist): other modules read customers here, never from the table. */
  async findMany(ids: readonly string[]): Promise<CustomerEntity[]> {
    if (ids.length === 0) return [];
    return this.customers.findBy({ id: In([...new Set(ids)]) });
  }

  /** Customers that can be billed in Stripe (have a Stripe customer id). */
  billable(): Promise<CustomerEntity[]> {
    return this.customers.createQueryBuilder('c').where('c.stripe_customer_id IS NOT NULL').orderBy('c.id').getMany();
  }

  limitsOf(customer: Pick<CustomerEntity, 'tier' | 'overrides'>): EffectiveLimits {
    return effectiveLimits(this.tiers.get(customer.tier), customer.overrides);
  }

  private assertValidTier(tierName: string, overrides: CustomerOverrides): void {
    const tier = this.tiers.find(tierName);
    if (!tier) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: `Unknown tier "${tierName}".`,
        details: [{ field: 'tier', problems: [`must be one of: ${this.tiers.list().map((t) => t.name).join(', ')}`] }],
      });
    }
    const problems = overrideProblems(tier, overrides);
    if (problems.length > 0) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: `Invalid overrides for tier ${tierName}: ${problems.map((p) => p.field).join(', ')}`,
        details: problems,
      });
    }
  }
}
