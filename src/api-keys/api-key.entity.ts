import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { KeyMode } from './api-key.secret.js';

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
  };
}
