import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ApiKeysService, KEY_PAGE_MAX } from '../api-keys/index.js';
import { CUSTOM } from '../config/index.js';
import { CustomersService } from '../customers/index.js';
import { DatabaseReadiness } from '../database/index.js';
import { TiersService } from '../tiers/index.js';

export interface DemoKey {
  tier: string;
  customerId: string;
  secret: string;
}

/**
 * Demo mode: one customer per tier with a fresh key at every start (the previous demo keys are revoked:
 * secrets are never stored, so they cannot be printed again).
 */
@Injectable()
export class DemoSeeder implements OnApplicationBootstrap {
  private readonly logger = new Logger('Demo');
  readonly keys: DemoKey[] = [];

  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(DatabaseReadiness) private readonly readiness: DatabaseReadiness,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.readiness.open) return this.seed();
    // Started during a database outage: seed once it is reachable (start-up does not wait for it).
    void this.readiness.whenOpen().then(
      () => this.seed(),
      () => undefined,
    ).catch((error: Error) => this.logger.error(`demo seeding failed: ${error.message}`));
  }

  private async seed(): Promise<void> {
    for (const tier of this.tiers.list()) {
      const externalId = `demo-${tier.name}`;
      const customer =
        (await this.customers.findByExternalId(externalId)) ??
        (await this.customers.create({
          name: `Demo ${tier.name} customer`,
          tier: tier.name,
          externalId,
          overrides: {
            ...(tier.includedCalls === CUSTOM && { includedCalls: 1_000_000 }),
            ...(tier.rateLimits === CUSTOM && { rateLimit: ['1000/min'] }),
          },
        }));
      let cursor: string | undefined;
      do {
        const page = await this.apiKeys.list(customer.id, { cursor, limit: KEY_PAGE_MAX });
        for (const key of page.data) {
          if (key.name === 'demo' && key.status === 'active') await this.apiKeys.revoke(customer.id, key.id);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      const issued = await this.apiKeys.create(customer.id, { name: 'demo', mode: 'test' });
      this.keys.push({ tier: tier.name, customerId: customer.id, secret: issued.secret });
    }
    this.logger.log(`demo customers ready: ${this.keys.map((key) => key.tier).join(', ')}`);
  }
}
