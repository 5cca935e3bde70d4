import { Inject, Injectable } from '@nestjs/common';
import { ApiKeysService, type Consumer, endpointRefusal, ipRefusal, KEY_REJECTION_MESSAGES, KeyUsageCap } from '../api-keys/index.js';
import { type ErrorHeaders, type HeaderSink, InvalidApiKeyException, TollgateException } from '../common/index.js';
import { DEFAULT_METER } from '../config/index.js';
import { databaseUnavailable, DatabaseReadiness } from '../database/index.js';
import { CostResolver } from '../metering-core/index.js';
import { type MeteringTicket, QuotaAdmission, requestEventKey, UsageRecorder } from '../metering/index.js';
import { ConsumerRateLimiter } from '../rate-limit/index.js';
import { TiersService } from '../tiers/index.js';

/** One request to decide, as a gateway or a non-Nest service sees it. */
export interface VerifyInput {
  /** The API key the request presented (null: none). */
  key: string | null;
  /** The request's path (a query string is ignored). */
  path: string;
  method: string;
  /** Units the request costs; else the catalog's cost for the path, else 1 (as on a guarded route). */
  cost?: number;
  /** The meter its quota and usage event count on; `api_calls` by default. */
  meter?: string;
  /** Like the Idempotency-Key header of a metered route: a retry is admitted and counted once. */
  idempotencyKey?: string;
  /** Write the durable usage event (default); false decides (and charges the rate limit) without recording usage. */
  record?: boolean;
  /** The client's address as the gateway saw it; a key with an IP allowlist is refused without it. */
  ip?: string;
}

/** What the guard chain would have answered the request. */
export interface VerifyDecision {
  valid: boolean;
  /** `ok`, or the error code the guarded route would have answered (`invalid_api_key`, `rate_limit_exceeded`…). */
  code: string;
  /** The HTTP status a guarded route would have answered (200 when valid). */
  status: number;
  message?: string;
  customerId: string | null;
  tier: string | null;
  /** Whole seconds, also in `headers['Retry-After']`. */
  retryAfter?: number;
  /** RateLimit / X-RateLimit / X-Quota / Retry-After (and WWW-Authenticate): the headers to forward to the client. */
  headers: Record<string, string>;
  /** The key's metadata (set by the operator), when the key is known and has some. */
  metadata?: Record<string, unknown>;
  /** Units left on the key's usage cap after this request, when it has one and the request spent from it. */
  usageRemaining?: number;
}

/** Collects the headers the shared decision code sets on a response. */
class HeaderBag implements HeaderSink {
  readonly values: Record<string, string> = {};

  setHeader(name: string, value: string | number): void {
    this.values[name] = String(value);
  }
}

/**
 * The verify API's decision: the same code as the guard chain (ApiKeyGuard → TierGuard → RateLimitGuard →
 * QuotaGuard → MeteringInterceptor's usage event), through the services the guards call, so a request decided
 * here is decided exactly as a guarded Nest route would decide it. A refusal is an answer (valid: false), not an
 * error; only faults of Tollgate itself (database not open yet) throw.
 */
@Injectable()
export class VerifyService {
  constructor(
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(CostResolver) private readonly costs: CostResolver,
    @Inject(ConsumerRateLimiter) private readonly rateLimiter: ConsumerRateLimiter,
    @Inject(QuotaAdmission) private readonly quotas: QuotaAdmission,
    @Inject(UsageRecorder) private readonly recorder: UsageRecorder,
    @Inject(DatabaseReadiness) private readonly readiness: DatabaseReadiness,
    @Inject(KeyUsageCap) private readonly usageCap: KeyUsageCap,
  ) {}

  /** The meters a call may name. */
  knownMeter(meter: string): boolean {
    return this.tiers.catalog.meters.some((candidate) => candidate.name === meter);
  }

  async verify(input: VerifyInput): Promise<VerifyDecision> {
    const headers = new HeaderBag();
    if (!this.readiness.open) throw databaseUnavailable(headers);
    const path = input.path.split('?')[0];
    // The *Now variants answer without a promise on warm caches, as the guards do.
    const result = input.key ? await this.apiKeys.authenticateNow(input.key) : { rejection: 'missing' as const };
    if ('rejection' in result) return refusal(new InvalidApiKeyException(KEY_REJECTION_MESSAGES[result.rejection]), headers, null);
    const consumer = result.consumer;

    // In the guard chain's order: the key's IP allowlist (ApiKeyGuard), tier globs then the key's endpoints (TierGuard).
    const accessRefusal = ipRefusal(consumer.key.controls, input.ip) ?? this.tiers.tierRefusal(consumer.tier, path) ?? endpointRefusal(consumer.key.controls, path);
    if (accessRefusal) return refusal(accessRefusal, headers, consumer);

    let ticket: MeteringTicket | null = null;
    let usageRemaining: number | null = null;
    try {
      // A bad cost is the caller's error (400), thrown before anything is charged.
      const cost = this.costs.forPath(consumer, path, input.cost);
      await this.rateLimiter.charge(headers, consumer, cost);
      const key = input.idempotencyKey ?? null;
      ticket = await this.quotas.admitNow(headers, consumer, input.meter ?? DEFAULT_METER, cost, key, key === null ? null : requestEventKey(key));
      // Last, as QuotaGuard: the key's usage cap (a retry of an admitted request spent it the first time).
      if (consumer.key.controls.usageCapped && cost > 0 && !ticket.duplicate) usageRemaining = await this.usageCap.spend(consumer, cost);
      if (input.record !== false) await this.recorder.record(headers, consumer, ticket, { method: input.method, path });
    } catch (error) {
      // Refusals become decisions; a malformed call (invalid_cost) stays the caller's 400.
      if (error instanceof TollgateException && error.getStatus() !== 400) return refusal(error, headers, consumer);
      throw error;
    } finally {
      ticket?.release();
    }
    return {
      valid: true,
      code: 'ok',
      status: 200,
      customerId: consumer.customerId,
      tier: consumer.tier.name,
      headers: headers.values,
      ...(consumer.key.controls.metadata ? { metadata: consumer.key.controls.metadata } : {}),
      ...(usageRemaining === null ? {} : { usageRemaining }),
    };
  }
}

function refusal(exception: TollgateException, headers: HeaderBag, consumer: Consumer | null): VerifyDecision {
  const named: ErrorHeaders = exception.headers;
  for (const [name, value] of Object.entries(named)) headers.setHeader(name, value);
  const retryAfter = headers.values['Retry-After'];
  return {
    valid: false,
    code: exception.code,
    status: exception.getStatus(),
    message: exception.body.message,
    customerId: consumer?.customerId ?? null,
    tier: consumer?.tier.name ?? null,
    ...(retryAfter === undefined ? {} : { retryAfter: Number(retryAfter) }),
    headers: headers.values,
    ...(consumer?.key.controls.metadata ? { metadata: consumer.key.controls.metadata } : {}),
  };
}
