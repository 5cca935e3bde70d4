import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { KeyMode } from './api-key.secret.js';
import { type ControlName, type KeyControlsView, type RefillInterval, refillPeriodStart } from './key-controls.js';

@Entity({ name: 'api_keys' })
export class ApiKeyEntity {
  @PrimaryColumn('text')
  id: string;

  @Column('text', { name: 'customer_id' })
  customerId: string;

  @Column('text')
  hash: string;

  @Column('text')
  prefix: string;

  @Column('text')
  name: string;

  @Column('text')
  mode: KeyMode;

  @Column('text', { array: true })
  scopes: string[];

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt: Date;

  @Column('timestamptz', { name: 'last_used_at', nullable: true })
  lastUsedAt: Date | null;

  @Column('timestamptz', { name: 'expires_at', nullable: true })
  expiresAt: Date | null;

  @Column('timestamptz', { name: 'revoked_at', nullable: true })
  revokedAt: Date | null;

  @Column('text', { name: 'replaced_by', nullable: true })
  replacedBy: string | null;

  @Column('text', { name: 'rate_limit', array: true, nullable: true })
  rateLimit: string[] | null;

  /** bigint: node-postgres reads it as a string. */
  @Column('bigint', { name: 'usage_remaining', nullable: true })
  usageRemaining: string | null;

  @Column('bigint', { name: 'usage_refill_amount', nullable: true })
  usageRefillAmount: string | null;

  @Column('text', { name: 'usage_refill_interval', nullable: true })
  usageRefillInterval: RefillInterval | null;

  @Column('timestamptz', { name: 'usage_refilled_at', nullable: true })
  usageRefilledAt: Date | null;

  @Column('text', { name: 'ip_allowlist', array: true, nullable: true })
  ipAllowlist: string[] | null;

  @Column('text', { array: true, nullable: true })
  endpoints: string[] | null;

  @Column('jsonb', { nullable: true })
  metadata: Record<string, unknown> | null;

  /** Controls the operator set: a key holder (/v1/me) cannot change or remove them. */
  @Column('text', { name: 'locked_controls', array: true, default: () => "'{}'" })
  lockedControls: ControlName[];
}

/** What the API shows of a key: never its hash, never its secret. */
export interface ApiKeyView {
  id: string;
  customerId: string;
  name: string;
  prefix: string;
  mode: KeyMode;
  scopes: string[];
  status: 'active' | 'expired' | 'revoked';
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
  replacedBy: string | null;
  controls: KeyControlsView;
  /** Controls the operator set, which the key holder cannot change or remove. */
  lockedControls: ControlName[];
}

/** The controls as they stand: a cap whose refill is due (applied lazily, on the next request) shows refilled. */
export function controlsViewOf(key: ApiKeyEntity, now = new Date()): KeyControlsView {
  const refillDue = key.usageRefillInterval !== null && (key.usageRefilledAt === null || key.usageRefilledAt < refillPeriodStart(key.usageRefillInterval, now));
  return {
    rateLimit: key.rateLimit,
    usageCap:
      key.usageRemaining === null
        ? null
        : {
            remaining: Number(refillDue ? key.usageRefillAmount : key.usageRemaining),
            refill: key.usageRefillInterval === null ? null : { amount: Number(key.usageRefillAmount), interval: key.usageRefillInterval },
          },
    ipAllowlist: key.ipAllowlist,
    endpoints: key.endpoints,
    metadata: key.metadata,
  };
}

export function toApiKeyView(key: ApiKeyEntity, now = new Date()): ApiKeyView {
  const status = key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt <= now ? 'expired' : 'active';
  return {
    id: key.id,
    customerId: key.customerId,
    name: key.name,
    prefix: key.prefix,
    mode: key.mode,
    scopes: key.scopes,
    status,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    replacedBy: key.replacedBy,
    controls: controlsViewOf(key, now),
    lockedControls: key.lockedControls ?? [],
  };
}
