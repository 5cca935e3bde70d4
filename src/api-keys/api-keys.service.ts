import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { EventEmitter2, OnEvent } from '@nestjs/event-emitter';
import { IsNull, type Repository } from 'typeorm';
import { ConstantTimeComparator } from '../common/constant-time.js';
import { isDatabaseUnavailable } from '../common/database-errors.js';
import { newId } from '../common/ids.js';
import { BLOCKED_CUSTOMER_STATUSES, billingAnchor, type CustomerEntity } from '../customers/customer.entity.js';
import { CUSTOMER_CHANGED, type CustomerChangedEvent } from '../customers/customers.events.js';
import { CustomersService } from '../customers/customers.service.js';
import { InjectTollgateRepository } from '../database/tollgate-connection.js';
import { TiersService } from '../tiers/tiers.service.js';
import { ApiKeyCache, type KeyRejection } from './api-key.cache.js';
import { ApiKeyEntity, toApiKeyView, type ApiKeyView } from './api-key.entity.js';
import { generateApiKey, hashApiKey, looksLikeApiKey, type KeyMode } from './api-key.secret.js';
import { API_KEY_REVOKED, API_KEY_ROTATED, type ApiKeyRevokedEvent, type ApiKeyRotatedEvent } from './api-keys.events.js';
import type { Consumer } from './consumer.js';
import { KeyInvalidationBus } from './key-invalidation.bus.js';
import { LastUsedTracker } from './last-used.tracker.js';

export interface CreateKeyInput {
  name?: string;
  mode?: KeyMode;
  scopes?: string[];
  expiresAt?: Date;
}

/** A key's secret exists only in this answer; it is never stored or shown again. */
export interface IssuedKey {
  key: ApiKeyView;
  secret: string;
}

export type Authentication = { consumer: Consumer } | { rejection: KeyRejection };

const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600;

@Injectable()
export class ApiKeysService {
  /** Concurrent first requests with one key share one database lookup. */
  private readonly inFlight = new Map<string, Promise<Authentication>>();

  constructor(
    @InjectTollgateRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(ApiKeyCache) private readonly cache: ApiKeyCache,
    @Inject(KeyInvalidationBus) private readonly invalidation: KeyInvalidationBus,
    @Inject(LastUsedTracker) private readonly lastUsed: LastUsedTracker,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
  ) {}

  async create(customerId: string, input: CreateKeyInput = {}): Promise<IssuedKey> {
    await this.customers.get(customerId);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'expiresAt must be in the future.',
        details: [{ field: 'expiresAt', problems: ['must be in the future'] }],
      });
    }
    const mode = input.mode ?? 'live';
    const generated = generateApiKey(mode);
    const key = await this.keys.save(
      this.keys.create({
        id: newId('key'),
        customerId,
        hash: generated.hash,
        prefix: generated.prefix,
        name: input.name ?? 'default',
        mode,
        scopes: input.scopes ?? [],
        expiresAt: input.expiresAt ?? null,
        lastUsedAt: null,
        revokedAt: null,
        replacedBy: null,
      }),
    );
    // A lookup of this hash may have been cached as unknown (it cannot have been guessed, but be exact).
    this.cache.evictKey(generated.hash);
    return { key: toApiKeyView(key), secret: generated.secret };
  }

  async list(customerId: string): Promise<ApiKeyView[]> {
    await this.customers.get(customerId);
    const keys = await this.keys.find({ where: { customerId }, order: { createdAt: 'DESC', id: 'ASC' } });
    const now = new Date();
    return keys.map((key) => toApiKeyView(key, now));
  }

  async get(customerId: string, keyId: string): Promise<ApiKeyView> {
    return toApiKeyView(await this.findOwned(customerId, keyId));
  }

  /** New secret now; the old key keeps working for the grace period, then expires. */
  async rotate(customerId: string, keyId: string, gracePeriodSeconds = DEFAULT_ROTATION_GRACE_SECONDS): Promise<IssuedKey> {
    const old = await this.findOwned(customerId, keyId);
    if (old.revokedAt) throw new BadRequestException({ error: 'key_revoked', message: 'A revoked key cannot be rotated.' });
    const issued = await this.create(customerId, { name: old.name, mode: old.mode, scopes: old.scopes });
    const graceEnd = new Date(Date.now() + gracePeriodSeconds * 1000);
    const expiresAt = old.expiresAt && old.expiresAt < graceEnd ? old.expiresAt : graceEnd;
    await this.keys.update({ id: old.id }, { expiresAt, replacedBy: issued.key.id, updatedAt: new Date() });
    await this.invalidation.publish({ hash: old.hash });
    this.events.emit(API_KEY_ROTATED, {
      customerId,
      keyId: old.id,
      newKeyId: issued.key.id,
      oldKeyExpiresAt: expiresAt,
    } satisfies ApiKeyRotatedEvent);
    return issued;
  }

  /** A label only: the secret, limits and cache entries are untouched. */
  async rename(customerId: string, keyId: string, name: string): Promise<ApiKeyView> {
    const key = await this.findOwned(customerId, keyId);
    key.name = name.trim();
    await this.keys.update({ id: key.id }, { name: key.name });
    return toApiKeyView(key);
  }

  async revoke(customerId: string, keyId: string): Promise<ApiKeyView> {
    const key = await this.findOwned(customerId, keyId);
    if (!key.revokedAt) {
      const at = new Date();
      await this.keys.update({ id: key.id, revokedAt: IsNull() }, { revokedAt: at, updatedAt: at });
      key.revokedAt = at;
      await this.invalidation.publish({ hash: key.hash });
      this.events.emit(API_KEY_REVOKED, { customerId, keyId: key.id, prefix: key.prefix, at } satisfies ApiKeyRevokedEvent);
    }
    return toApiKeyView(key);
  }

  /** Resolves a presented secret to its consumer, from the in-process cache when warm. */
  async authenticate(secret: string): Promise<Authentication> {
    if (!looksLikeApiKey(secret)) return { rejection: 'unknown' };
    const hash = hashApiKey(secret);
    const now = Date.now();
    const cached = this.cache.get(hash, now);
    let result: Authentication;
    try {
      result = cached ?? (await this.lookup(hash));
    } catch (error) {
      // Database away: a key seen recently keeps working (revocations still arrive over Redis).
      const stale = isDatabaseUnavailable(error) ? this.cache.stale(hash) : undefined;
      if (!stale) throw error;
      result = stale;
    }
    if ('rejection' in result) return result;
    if (result.consumer.key.expiresAt && result.consumer.key.expiresAt.getTime() <= now) return { rejection: 'expired' };
    this.lastUsed.touch(result.consumer.key.id, now);
    return result;
  }

  @OnEvent(CUSTOMER_CHANGED)
  async onCustomerChanged(event: CustomerChangedEvent): Promise<void> {
    await this.invalidation.publish({ customerId: event.customerId });
  }

  private lookup(hash: string): Promise<Authentication> {
    let pending = this.inFlight.get(hash);
    if (!pending) {
      pending = this.load(hash).finally(() => this.inFlight.delete(hash));
      this.inFlight.set(hash, pending);
    }
    return pending;
  }

  private async load(hash: string): Promise<Authentication> {
    const key = await this.keys.findOneBy({ hash });
    // The index found the row; compare the digests in constant time anyway, so no code path
    // decides on a secret-derived value with an early-exit comparison.
    if (!key || !this.comparator.digestsEqual(key.hash, hash)) {
      this.cache.set(hash, { rejection: 'unknown' }, null);
      return { rejection: 'unknown' };
    }
    if (key.revokedAt) {
      this.cache.set(hash, { rejection: 'revoked' }, key.customerId);
      return { rejection: 'revoked' };
    }
    const customer = await this.customers.find(key.customerId);
    if (!customer || BLOCKED_CUSTOMER_STATUSES.has(customer.status)) {
      this.cache.set(hash, { rejection: 'suspended' }, key.customerId);
      return { rejection: 'suspended' };
    }
    const result = { consumer: this.consumerOf(key, customer) };
    this.cache.set(hash, result, customer.id);
    return result;
  }

  private consumerOf(key: ApiKeyEntity, customer: CustomerEntity): Consumer {
    return {
      customerId: customer.id,
      customerName: customer.name,
      status: customer.status,
      tier: this.tiers.get(customer.tier),
      limits: this.customers.limitsOf(customer),
      billingPeriod: billingAnchor(customer),
      key: { id: key.id, prefix: key.prefix, mode: key.mode, scopes: key.scopes, expiresAt: key.expiresAt },
    };
  }

  private async findOwned(customerId: string, keyId: string): Promise<ApiKeyEntity> {
    const key = await this.keys.findOneBy({ id: keyId, customerId });
    if (!key) throw new NotFoundException({ error: 'api_key_not_found', message: `No API key ${keyId} for this customer.` });
    return key;
  }
}
