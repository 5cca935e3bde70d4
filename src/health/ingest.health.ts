import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { UsageIngestor } from '../metering/index.js';

/**
 * How usage reaches the ledger. NATS away does not make the instance unready — events take the direct path (the
 * database, or the local spool) — but the check says so, with the consumer's lag when NATS answers.
 */
@Injectable()
export class IngestHealthIndicator {
  constructor(
    @Inject(UsageIngestor) private readonly ingestor: UsageIngestor,
    @Inject(HealthIndicatorService) private readonly health: HealthIndicatorService,
  ) {}

  async isHealthy(key: string) {
    const indicator = this.health.check(key);
    const status = await this.ingestor.transportStatus();
    if (status.transport === 'direct') return indicator.up({ transport: 'direct' });
    const { connected, pending, ackPending, redelivered, fallbacks } = status;
    return indicator.up({ transport: 'jetstream', connected, path: connected ? 'jetstream' : 'direct (fallback: NATS unavailable)', pending, ackPending, redelivered, fallbacks });
  }
}
