import { BadRequestException, ConflictException, ForbiddenException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { EventEmitter2, OnEvent } from '@nestjs/event-emitter';
import { type EntityManager, IsNull, type Repository } from 'typeorm';
import { ConstantTimeComparator, KeyedSerializer, validationFailed } from '../common/index.js';
import { isDatabaseUnavailable } from '../common/index.js';
import { newId } from '../common/index.js';
import { parseRatePolicy, type RatePolicy, TollgateConfig } from '../config/index.js';
import { BLOCKED_CUSTOMER_STATUSES, billingAnchor, type CustomerEntity } from '../customers/index.js';
import { CUSTOMER_CHANGED, type CustomerChangedEvent } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { InjectTollgateRepository } from '../database/index.js';
import { TiersService } from '../tiers/index.js';
import { ApiKeyCache, type KeyRejection } from './api-key.cache.js';
import { ApiKeyEntity, toApiKeyView, type ApiKeyView } from './api-key.entity.js';
import { generateApiKey, hashApiKey, looksLikeApiKey, type KeyMode } from './api-key.secret.js';
import { API_KEY_REVOKED, API_KEY_ROTATED, type ApiKeyRevokedEvent, type ApiKeyRotatedEvent } from './api-keys.events.js';
import type { Consumer } from './consumer.js';
import {
  compileAllowlist,
  compileEndpoints,
  CONTROL_NAMES,
  type ControlName,
  controlProblems,
  type KeyControls,
  type KeyControlsInput,
  normalizeCidr,
  sustainedRate,
} from './key-controls.js';
import { KeyInvalidationBus } from './key-invalidation.bus.js';
import { LastUsedTracker } from './last-used.tracker.js';

export interface CreateKeyInput {
  name?: string;
  mode?: KeyMode;
  scopes?: string[];
  expiresAt?: Date;
  /** Per-key controls; a field left out or null is not set. */
  controls?: KeyControlsInput;
}

export interface UpdateKeyInput {
  name?: string;
  /** A field left out stays as it is; null removes it. */
  controls?: KeyControlsInput;
}

/** A key's secret exists only in this answer; it is never stored or shown again. */
export interface IssuedKey {
  key: ApiKeyView;
  secret: string;
}

export type Authentication = { consumer: Consumer } | { rejection: KeyRejection };

/**
 * Who asks for a key. The operator (admin API, the host app's own code) grants anything. A key holder (a
 * `/v1/me` caller, a portal session) gives a new key at most what it holds: its own key's scopes, and an expiry no
 * later than its own key's. A portal session opened by email link holds no key: no scopes, no expiry bound.
 */
export type KeyGrantor = { kind: 'operator' } | { kind: 'holder'; scopes: readonly string[]; expiresAt: Date | null; keyId: string | null };

export const OPERATOR_GRANTOR: KeyGrantor = { kind: 'operator' };

/** Lets a key decide for any customer's keys (the verify API): only the operator gives it, even to a key holder that has it. */
export const VERIFY_SCOPE = 'verify';
/** Scopes no key holder can give, not even one whose own key has them (a new key would outlive a revocation of its maker). */
export const OPERATOR_ONLY_SCOPES: readonly string[] = [VERIFY_SCOPE];

export function holderGrantor(key: { id: string; scopes: readonly string[]; expiresAt: Date | null } | null): KeyGrantor {
  return { kind: 'holder', scopes: key?.scopes ?? [], expiresAt: key?.expiresAt ?? null, keyId: key?.id ?? null };
}

export interface KeyPageRequest {
  limit?: number;
  cursor?: string;
}

/** Newest first; `nextCursor` is the last key's id when more follow. */
export interface KeyPage {
  data: ApiKeyView[];
  nextCursor: string | null;
}

const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600;
export const KEY_PAGE_DEFAULT = 50;
export const KEY_PAGE_MAX = 200;

@Injectable()
export class ApiKeysService {
  /** Concurrent first requests with one key share one database lookup. */
  private readonly inFlight = new Map<string, Promise<Authentication>>();
  /**
   * Key changes of one customer wait here, in memory, for their turn — not in the database lock holding a pool
   * connection each: a burst from one tenant would otherwise take every connection (and time out others' requests).
   * The advisory lock still orders them across instances.
   */
  private readonly keyChangesInTurn = new KeyedSerializer();

  constructor(
    @InjectTollgateRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(TiersService) private readonly tiers: TiersService,
    @Inject(ApiKeyCache) private readonly cache: ApiKeyCache,
    @Inject(KeyInvalidationBus) private readonly invalidation: KeyInvalidationBus,
    @Inject(LastUsedTracker) private readonly lastUsed: LastUsedTracker,
    @Inject(EventEmitter2) private readonly events: EventEmitter2,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async create(customerId: string, input: CreateKeyInput = {}, grantor: KeyGrantor = OPERATOR_GRANTOR): Promise<IssuedKey> {
    await this.customers.get(customerId);
    if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
      throw new BadRequestException({
        error: 'validation_failed',
        message: 'expiresAt must be in the future.',
        details: [{ field: 'expiresAt', problems: ['must be in the future'] }],
      });
    }
    const scopes = [...new Set(input.scopes ?? [])];
    // A holder's new key inherits the holder's expiry unless it asks for an earlier one.
    const expiresAt = input.expiresAt ?? (grantor.kind === 'holder' ? grantor.expiresAt : null);
    assertOperatorOnly(grantor, scopes);
    assertHeld(grantor, scopes, expiresAt);
    const requested = checkedControls(input.controls ?? {});
    const controls = grantor.kind === 'operator' ? operatorControls(requested) : await this.holderControls(customerId, grantor, requested);
    const issued = await this.keyChangesInTurn.run(customerId, () => this.keys.manager.transaction(async (manager) => {
      await lockKeysOf(manager, customerId);
      const active = await countActiveKeys(manager, customerId);
      if (active >= this.config.maxKeysPerCustomer) {
        throw new ConflictException({
          error: 'key_limit_reached',
          message: `This account already has ${active} active API keys, the most allowed (${this.config.maxKeysPerCustomer}). Revoke one to create another.`,
          limit: this.config.maxKeysPerCustomer,
        });
      }
      return this.insert(manager, customerId, { name: input.name ?? 'default', mode: input.mode ?? 'live', scopes, expiresAt, ...controls });
    }));
    return { key: toApiKeyView(issued.key), secret: issued.secret };
  }

  /** Newest first, keyset-paginated on (created_at, id). */
  async list(customerId: string, page: KeyPageRequest = {}): Promise<KeyPage> {
    await this.customers.get(customerId);
    const limit = Math.min(page.limit ?? KEY_PAGE_DEFAULT, KEY_PAGE_MAX);
    const query = this.keys
      .createQueryBuilder('k')
      .where('k.customer_id = :customerId', { customerId })
      .orderBy('k.createdAt', 'DESC')
      .addOrderBy('k.id', 'DESC')
      .limit(limit + 1);
    if (page.cursor !== undefined) {
      if (!(await this.keys.existsBy({ id: page.cursor, customerId }))) {
        throw new BadRequestException({
          error: 'validation_failed',
          message: 'cursor is not a key of this customer: pass the nextCursor of the previous page.',
          details: [{ field: 'cursor', problems: ['unknown cursor'] }],
        });
      }
      // Compared in the database, where created_at has its full (microsecond) precision.
      query.andWhere('(k.created_at, k.id) < (SELECT c.created_at, c.id FROM api_keys c WHERE c.id = :cursor)', { cursor: page.cursor });
    }
    const rows = await query.getMany();
    const now = new Date();
    const data = rows.slice(0, limit).map((key) => toApiKeyView(key, now));
    return { data, nextCursor: rows.length > limit ? data[data.length - 1].id : null };
  }

  async get(customerId: string, keyId: string): Promise<ApiKeyView> {
    return toApiKeyView(await this.findOwned(customerId, keyId));
  }

  /**
   * What a portal session can grant: the scopes and expiry of the key it was opened with, while that key works
   * (a session outlives an expired key: it then grants nothing); a session without a key (email link) grants no scopes.
   */
  async grantorFor(customerId: string, keyId: string | null): Promise<KeyGrantor> {
    if (keyId === null) return holderGrantor(null);
    const key = await this.keys.findOneBy({ id: keyId, customerId });
    if (!key || key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= Date.now())) {
      throw new ForbiddenException({
        error: 'session_key_inactive',
        message: 'The key you signed in with no longer works: sign in again to create or rotate keys.',
      });
    }
    return holderGrantor(key);
  }

  /**
   * New secret now, with the old key's name, mode, scopes and expiry; the old key keeps working for the grace
   * period, then expires. A key is rotated once (its replacement is rotated next), so rotation never adds keys.
   */
  async rotate(customerId: string, keyId: string, gracePeriodSeconds = DEFAULT_ROTATION_GRACE_SECONDS, grantor: KeyGrantor = OPERATOR_GRANTOR): Promise<IssuedKey> {
    const { old, issued, oldExpiresAt } = await this.keyChangesInTurn.run(customerId, () => this.keys.manager.transaction(async (manager) => {
      await lockKeysOf(manager, customerId);
      const old = await manager.getRepository(ApiKeyEntity).findOneBy({ id: keyId, customerId });
      if (!old) throw keyNotFound(keyId);
      if (old.revokedAt) throw new BadRequestException({ error: 'key_revoked', message: 'A revoked key cannot be rotated.' });
      if (old.replacedBy) {
        throw new ConflictException({ error: 'key_already_rotated', message: `This key was already rotated: rotate its replacement ${old.replacedBy}.`, replacedBy: old.replacedBy });
      }
      if (old.expiresAt && old.expiresAt.getTime() <= Date.now()) {
        throw new BadRequestException({ error: 'key_expired', message: 'An expired key cannot be rotated: its replacement would outlive it.' });
      }
      assertHeld(grantor, old.scopes, old.expiresAt);
      // The replacement carries the same controls. The usage cap moves to it (the old key keeps a cap of 0 for its
      // grace period): a rotation never adds budget. Locked under FOR UPDATE so no request spends it meanwhile.
      const [{ remaining }] = (await manager.query('SELECT usage_remaining::text AS remaining FROM api_keys WHERE id = $1 FOR UPDATE', [old.id])) as Array<{ remaining: string | null }>;
      const issued = await this.insert(manager, customerId, {
        name: old.name,
        mode: old.mode,
        scopes: old.scopes,
        expiresAt: old.expiresAt,
        ...copiedControls(old),
        usageRemaining: remaining,
      });
      const graceEnd = new Date(Date.now() + gracePeriodSeconds * 1000);
      const oldExpiresAt = old.expiresAt && old.expiresAt < graceEnd ? old.expiresAt : graceEnd;
      await manager.getRepository(ApiKeyEntity).update(
        { id: old.id },
        { expiresAt: oldExpiresAt, replacedBy: issued.key.id, updatedAt: new Date(), ...(remaining === null ? {} : { usageRemaining: '0', usageRefillAmount: null, usageRefillInterval: null }) },
      );
      return { old, issued, oldExpiresAt };
    }));
    await this.invalidation.publish({ hash: old.hash });
    this.events.emit(API_KEY_ROTATED, {
      customerId,
      keyId: old.id,
      newKeyId: issued.key.id,
      oldKeyExpiresAt: oldExpiresAt,
    } satisfies ApiKeyRotatedEvent);
    return { key: toApiKeyView(issued.key), secret: issued.secret };
  }

  private async insert(
    manager: EntityManager,
    customerId: string,
    fields: { name: string; mode: KeyMode; scopes: string[]; expiresAt: Date | null } & Partial<StoredControls>,
  ): Promise<{ key: ApiKeyEntity; secret: string }> {
    const generated = generateApiKey(fields.mode);
    const repository = manager.getRepository(ApiKeyEntity);
    const key = await repository.save(
      repository.create({
        id: newId('key'),
        customerId,
        hash: generated.hash,
        prefix: generated.prefix,
        ...NO_STORED_CONTROLS,
        ...fields,
        lastUsedAt: null,
        revokedAt: null,
        replacedBy: null,
      }),
    );
    // A lookup of this hash may have been cached as unknown (it cannot have been guessed, but be exact).
    this.cache.evictKey(generated.hash);
    return { key, secret: generated.secret };
  }

  /** A label only: the secret, limits and cache entries are untouched. */
  async rename(customerId: string, keyId: string, name: string): Promise<ApiKeyView> {
    return this.update(customerId, keyId, { name });
  }

  /**
   * Renames a key and/or changes its controls. The operator may change any control; a control it sets is locked for
   * the key holder, and one it removes is unlocked. A key holder may set, change or remove the controls it set
   * itself (403 `control_locked` on a locked one, or on metadata, which only the operator writes), and a rate limit
   * it sets may not be looser than its customer's (403 `rate_limit_not_held`). Every instance drops the cached key.
   */
  async update(customerId: string, keyId: string, input: UpdateKeyInput, grantor: KeyGrantor = OPERATOR_GRANTOR): Promise<ApiKeyView> {
    const requested = checkedControls(input.controls ?? {});
    const changed = CONTROL_NAMES.filter((name) => requested[name] !== undefined);
    if (changed.length === 0) {
      const key = await this.findOwned(customerId, keyId);
      if (input.name !== undefined) {
        key.name = input.name.trim();
        await this.keys.update({ id: key.id }, { name: key.name });
      }
      return toApiKeyView(key);
    }
    if (grantor.kind === 'holder') await this.assertHolderMayChange(customerId, requested);
    const key = await this.keys.manager.transaction(async (manager) => {
      const repository = manager.getRepository(ApiKeyEntity);
      const key = await repository.findOne({ where: { id: keyId, customerId }, lock: { mode: 'pessimistic_write' } });
      if (!key) throw keyNotFound(keyId);
      if (grantor.kind === 'holder') {
        const locked = changed.filter((name) => key.lockedControls.includes(name));
        if (locked.length > 0) throw controlLocked(locked);
      }
      const stored = storedControls(requested);
      for (const name of changed) {
        Object.assign(key, pick(stored, name));
        const locks = new Set(key.lockedControls);
        if (grantor.kind === 'operator' && requested[name] !== null) locks.add(name);
        else locks.delete(name);
        key.lockedControls = CONTROL_NAMES.filter((control) => locks.has(control));
      }
      if (input.name !== undefined) key.name = input.name.trim();
      key.updatedAt = new Date();
      await repository.save(key);
      return key;
    });
    await this.invalidation.publish({ hash: key.hash });
    return toApiKeyView(key);
  }

  /**
   * A holder's new key: the controls it asks for, plus every control the operator locked on the holder's own key
   * (a restricted key cannot mint an unrestricted one). A key with a locked usage cap cannot make keys at all: a new
   * key would be new budget.
   */
  private async holderControls(customerId: string, grantor: KeyGrantor & { kind: 'holder' }, requested: KeyControlsInput): Promise<Partial<StoredControls>> {
    await this.assertHolderMayChange(customerId, requested);
    const own = grantor.keyId === null ? null : await this.keys.findOneBy({ id: grantor.keyId, customerId });
    const inherited = own?.lockedControls ?? [];
    if (inherited.includes('usageCap')) throw controlLocked(['usageCap'], 'Your key has a usage cap set by the operator: keys it makes would add to it, so it cannot make keys.');
    const clash = inherited.filter((name) => requested[name] !== undefined && requested[name] !== null);
    if (clash.length > 0) throw controlLocked(clash, 'Your key carries controls the operator set; a key it makes inherits them unchanged.');
    const stored = storedControls(requested);
    const copied = own ? copiedControls(own) : {};
    const result: Partial<StoredControls> = { ...stored, lockedControls: [] };
    for (const name of inherited) Object.assign(result, pick(copied, name));
    result.lockedControls = [...inherited];
    return result;
  }

  /** What a key holder may ask for: no metadata (the operator's, trusted by the services behind verify); a rate limit no looser than its customer's. */
  private async assertHolderMayChange(customerId: string, requested: KeyControlsInput): Promise<void> {
    if (requested.metadata !== undefined) throw controlLocked(['metadata'], 'Key metadata is set by the operator only.');
    if (!requested.rateLimit) return;
    const customerLimits = this.customers.limitsOf(await this.customers.get(customerId)).rateLimits;
    if (customerLimits.length === 0) return;
    const fastest = Math.max(...customerLimits.map(sustainedRate));
    const tooLoose = requested.rateLimit.filter((text) => sustainedRate(parseRatePolicy(text)!) > fastest);
    if (tooLoose.length > 0) {
      throw new ForbiddenException({
        error: 'rate_limit_not_held',
        message: `A key's own rate limit cannot be looser than your account's (${customerLimits.map(describeRate).join(', ')}): ${tooLoose.map((text) => `"${text}"`).join(', ')}.`,
      });
    }
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
    return this.authenticateNow(secret);
  }

  /**
   * As `authenticate`, but a warm cache answers synchronously: the guard then decides without a promise (and Nest
   * without an await), which is most requests.
   */
  authenticateNow(secret: string): Authentication | Promise<Authentication> {
    if (!looksLikeApiKey(secret)) return { rejection: 'unknown' };
    const hash = hashApiKey(secret);
    const now = Date.now();
    const cached = this.cache.get(hash, now);
    return cached ? this.usable(cached, now) : this.authenticateUncached(hash, now);
  }

  private async authenticateUncached(hash: string, now: number): Promise<Authentication> {
    let result: Authentication;
    try {
      result = await this.lookup(hash);
    } catch (error) {
      // Database away: a key seen recently keeps working (revocations still arrive over Redis).
      const stale = isDatabaseUnavailable(error) ? this.cache.stale(hash) : undefined;
      if (!stale) throw error;
      result = stale;
    }
    return this.usable(result, now);
  }

  /** A found key still has to be unexpired; a used one is noted (last used). */
  private usable(result: Authentication, now: number): Authentication {
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
      key: { id: key.id, prefix: key.prefix, mode: key.mode, scopes: key.scopes, expiresAt: key.expiresAt, controls: compiledControls(key) },
    };
  }

  private async findOwned(customerId: string, keyId: string): Promise<ApiKeyEntity> {
    const key = await this.keys.findOneBy({ id: keyId, customerId });
    if (!key) throw keyNotFound(keyId);
    return key;
  }
}

/** The control columns of a key row. */
type StoredControls = Pick<
  ApiKeyEntity,
  'rateLimit' | 'usageRemaining' | 'usageRefillAmount' | 'usageRefillInterval' | 'usageRefilledAt' | 'ipAllowlist' | 'endpoints' | 'metadata' | 'lockedControls'
>;

const NO_STORED_CONTROLS: StoredControls = {
  rateLimit: null,
  usageRemaining: null,
  usageRefillAmount: null,
  usageRefillInterval: null,
  usageRefilledAt: null,
  ipAllowlist: null,
  endpoints: null,
  metadata: null,
  lockedControls: [],
};

const COLUMNS_OF: Record<ControlName, Array<keyof StoredControls>> = {
  rateLimit: ['rateLimit'],
  usageCap: ['usageRemaining', 'usageRefillAmount', 'usageRefillInterval', 'usageRefilledAt'],
  ipAllowlist: ['ipAllowlist'],
  endpoints: ['endpoints'],
  metadata: ['metadata'],
};

function pick(controls: Partial<StoredControls>, name: ControlName): Partial<StoredControls> {
  return Object.fromEntries(COLUMNS_OF[name].map((column) => [column, controls[column] ?? null]));
}

/** 400 `validation_failed` on a bad control, else the controls as given. */
function checkedControls(input: KeyControlsInput): KeyControlsInput {
  const problems = controlProblems(input);
  if (problems.length > 0) throw validationFailed(problems.map((problem) => ({ ...problem, field: `controls.${problem.field}` })));
  return input;
}

/** The columns of the controls given (null or absent: not set). A new cap starts its refill period now. */
function storedControls(input: KeyControlsInput): StoredControls {
  const cap = input.usageCap ?? null;
  return {
    rateLimit: input.rateLimit ? input.rateLimit.map((text) => text.trim()) : null,
    usageRemaining: cap ? String(cap.remaining) : null,
    usageRefillAmount: cap?.refill ? String(cap.refill.amount) : null,
    usageRefillInterval: cap?.refill?.interval ?? null,
    usageRefilledAt: cap ? new Date() : null,
    ipAllowlist: input.ipAllowlist ? [...new Set(input.ipAllowlist.map(normalizeCidr))] : null,
    endpoints: input.endpoints ? [...new Set(input.endpoints)] : null,
    metadata: input.metadata ?? null,
    lockedControls: [],
  };
}

/** The operator's controls on a new key, each locked for the holder. */
function operatorControls(input: KeyControlsInput): StoredControls {
  return { ...storedControls(input), lockedControls: CONTROL_NAMES.filter((name) => input[name] !== undefined && input[name] !== null) };
}

function copiedControls(key: ApiKeyEntity): StoredControls {
  return {
    rateLimit: key.rateLimit,
    usageRemaining: key.usageRemaining,
    usageRefillAmount: key.usageRefillAmount,
    usageRefillInterval: key.usageRefillInterval,
    usageRefilledAt: key.usageRefilledAt,
    ipAllowlist: key.ipAllowlist,
    endpoints: key.endpoints,
    metadata: key.metadata,
    lockedControls: key.lockedControls,
  };
}

/** What the request path checks, compiled once per load (the consumer is cached with it). */
function compiledControls(key: ApiKeyEntity): KeyControls {
  return {
    rateLimits: (key.rateLimit ?? []).map((text) => parseRatePolicy(text)).filter((policy): policy is RatePolicy => policy !== null),
    usageCapped: key.usageRemaining !== null,
    ipAllowlist: key.ipAllowlist ? compileAllowlist(key.ipAllowlist) : null,
    endpoints: key.endpoints ? compileEndpoints(key.endpoints) : null,
    metadata: key.metadata,
  };
}

function describeRate(policy: RatePolicy): string {
  return `${policy.limit}/${policy.windowSeconds}s`;
}

function controlLocked(controls: ControlName[], message?: string): ForbiddenException {
  return new ForbiddenException({
    error: 'control_locked',
    message: message ?? `${controls.join(', ')} ${controls.length === 1 ? 'was' : 'were'} set by the operator: only the operator can change ${controls.length === 1 ? 'it' : 'them'}.`,
    controls,
  });
}

function keyNotFound(keyId: string): NotFoundException {
  return new NotFoundException({ error: 'api_key_not_found', message: `No API key ${keyId} for this customer.` });
}

function assertOperatorOnly(grantor: KeyGrantor, scopes: readonly string[]): void {
  if (grantor.kind === 'operator') return;
  const reserved = scopes.filter((scope) => OPERATOR_ONLY_SCOPES.includes(scope));
  if (reserved.length === 0) return;
  throw new ForbiddenException({
    error: 'scope_not_held',
    message: `${reserved.map((scope) => `"${scope}"`).join(', ')} can only be granted by the operator (admin API).`,
    scopes: reserved,
  });
}

/** A key holder grants only what it holds: no scope beyond its own, no expiry beyond its own. */
function assertHeld(grantor: KeyGrantor, scopes: readonly string[], expiresAt: Date | null): void {
  if (grantor.kind === 'operator') return;
  const missing = scopes.filter((scope) => !grantor.scopes.includes(scope));
  if (missing.length > 0) {
    throw new ForbiddenException({
      error: 'scope_not_held',
      message: `A key can only be given scopes that your own key has; ${missing.map((scope) => `"${scope}"`).join(', ')} must come from the operator.`,
      scopes: missing,
    });
  }
  if (grantor.expiresAt && (!expiresAt || expiresAt > grantor.expiresAt)) {
    throw new ForbiddenException({
      error: 'expiry_not_held',
      message: `Your own key expires at ${grantor.expiresAt.toISOString()}: a key it makes or rotates cannot outlive it.`,
      expiresAt: grantor.expiresAt.toISOString(),
    });
  }
}

/** Key creations and rotations of one customer take turns, so the cap holds under a burst. */
async function lockKeysOf(manager: EntityManager, customerId: string): Promise<void> {
  await manager.query(`SELECT pg_advisory_xact_lock(hashtext('tollgate:api-keys:' || current_schema() || ':' || $1))`, [customerId]);
}

/** Keys that work and are not on their way out (a rotated key's grace period does not hold a place). */
async function countActiveKeys(manager: EntityManager, customerId: string): Promise<number> {
  const [row] = (await manager.query(
    `SELECT count(*)::int AS count FROM api_keys
      WHERE customer_id = $1 AND revoked_at IS NULL AND replaced_by IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [customerId],
  )) as Array<{ count: number }>;
  return row.count;
}
