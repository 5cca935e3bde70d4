import { Injectable } from '@nestjs/common';
import type { Consumer } from './consumer.js';

export type KeyRejection = 'unknown' | 'revoked' | 'expired' | 'suspended';

type CachedLookup = { consumer: Consumer } | { rejection: KeyRejection };

interface Entry {
  value: CachedLookup;
  customerId: string | null;
  expiresAt: number;
}

const POSITIVE_TTL_MS = 30_000;
const NEGATIVE_TTL_MS = 5_000;
const MAX_ENTRIES = 50_000;

/**
 * In-process cache of key lookups by hash, so a warm request costs no I/O. Entries live briefly and are
 * evicted on every change (this instance's, or another's via the invalidation bus).
 */
@Injectable()
export class ApiKeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly byCustomer = new Map<string, Set<string>>();

  get(hash: string, now = Date.now()): CachedLookup | undefined {
    const entry = this.entries.get(hash);
    return entry && entry.expiresAt > now ? entry.value : undefined;
  }

  /** An expired (but not evicted) positive entry: used only while the database cannot be asked. */
  stale(hash: string): CachedLookup | undefined {
    const value = this.entries.get(hash)?.value;
    return value && 'consumer' in value ? value : undefined;
  }

  set(hash: string, value: CachedLookup, customerId: string | null, now = Date.now()): void {
    if (this.entries.size >= MAX_ENTRIES) this.evictOldest();
    const ttl = 'consumer' in value ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS;
    this.entries.set(hash, { value, customerId, expiresAt: now + ttl });
    if (customerId) {
      let hashes = this.byCustomer.get(customerId);
      if (!hashes) this.byCustomer.set(customerId, (hashes = new Set()));
      hashes.add(hash);
    }
  }

  evictKey(hash: string): void {
    const entry = this.entries.get(hash);
    this.entries.delete(hash);
    if (entry?.customerId) this.byCustomer.get(entry.customerId)?.delete(hash);
  }

  evictCustomer(customerId: string): void {
    for (const hash of this.byCustomer.get(customerId) ?? []) this.entries.delete(hash);
    this.byCustomer.delete(customerId);
  }

  /**
   * The row changed but the key is still usable: the next request reloads it, yet the last known consumer
   * stays available to `stale()` — so a database outage right after a benign change (a key just created, a
   * customer renamed) does not turn a working key into 503s.
   */
  expireKey(hash: string): void {
    const entry = this.entries.get(hash);
    if (!entry) return;
    if ('consumer' in entry.value) entry.expiresAt = 0;
    else this.evictKey(hash);
  }

  expireCustomer(customerId: string): void {
    for (const hash of [...(this.byCustomer.get(customerId) ?? [])]) this.expireKey(hash);
  }

  clear(): void {
    this.entries.clear();
    this.byCustomer.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  /** Maps iterate in insertion order: drop the oldest tenth when full. */
  private evictOldest(): void {
    let toDrop = Math.ceil(MAX_ENTRIES / 10);
    for (const hash of this.entries.keys()) {
      this.evictKey(hash);
      if (--toDrop === 0) break;
    }
  }
}
