import { Injectable } from '@nestjs/common';
import type { Repository } from 'typeorm';
import { UsageExceededException } from '../common/index.js';
import { InjectTollgateRepository } from '../database/index.js';
import { ApiKeyEntity } from './api-key.entity.js';
import type { Consumer } from './consumer.js';
import { nextRefill, type RefillInterval } from './key-controls.js';

// A refill is due when the cap was last refilled before the current UTC day / ISO week / month began
// (Postgres' date_trunc('week') starts on Monday, as refillPeriodStart does).
const REFILL_DUE = `(usage_refill_interval IS NOT NULL AND (usage_refilled_at IS NULL OR
  usage_refilled_at < date_trunc(usage_refill_interval, now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'))`;
const AVAILABLE = `(CASE WHEN ${REFILL_DUE} THEN usage_refill_amount ELSE usage_remaining END)`;

/**
 * A key's usage cap, spent for both doors (QuotaGuard and the verify API): one atomic UPDATE that refills the cap
 * when a refill is due and takes the request's cost only if that much is left, so concurrent requests on any
 * number of instances never spend more than the cap. Keys without a cap never get here (no query).
 */
@Injectable()
export class KeyUsageCap {
  constructor(@InjectTollgateRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>) {}

  /** Spends `cost` units of the key's cap; the units left after it (null: the key has no cap any more). Throws 429 `usage_exceeded`. */
  async spend(consumer: Consumer, cost: number): Promise<number | null> {
    // In a CTE so every driver answers rows (a bare UPDATE … RETURNING comes back as [rows, count] from TypeORM's).
    const [spent] = (await this.keys.query(
      `WITH spent AS (
         UPDATE api_keys SET
           usage_remaining = ${AVAILABLE} - $2,
           usage_refilled_at = CASE WHEN ${REFILL_DUE} THEN now() ELSE usage_refilled_at END
         WHERE id = $1 AND usage_remaining IS NOT NULL AND ${AVAILABLE} >= $2
         RETURNING usage_remaining)
       SELECT usage_remaining::text AS remaining FROM spent`,
      [consumer.key.id, cost],
    )) as Array<{ remaining: string }>;
    if (spent) return Number(spent.remaining);
    // Nothing spent: the cap is too low, or it was removed since this key was cached (then nothing to spend).
    const [state] = (await this.keys.query(
      `SELECT ${AVAILABLE}::text AS available, usage_refill_interval AS interval FROM api_keys WHERE id = $1 AND usage_remaining IS NOT NULL`,
      [consumer.key.id],
    )) as Array<{ available: string; interval: RefillInterval | null }>;
    if (!state) return null;
    const now = new Date();
    const refillsAt = state.interval === null ? null : nextRefill(state.interval, now);
    throw new UsageExceededException({
      remaining: Number(state.available),
      cost,
      refillsAt: refillsAt?.toISOString() ?? null,
      ...(refillsAt === null ? {} : { retryAfter: Math.max(1, Math.ceil((refillsAt.getTime() - now.getTime()) / 1000)) }),
    });
  }
}
