import { ApiKeyCache } from './api-key.cache.js';
import type { Consumer } from './consumer.js';

const consumer = (customerId: string) => ({ consumer: { customerId } as Consumer });

describe('ApiKeyCache', () => {
  it('expires positive entries after 30 s and negative ones after 5 s', () => {
    const cache = new ApiKeyCache();
    cache.set('a', consumer('c1'), 'c1', 0);
    cache.set('b', { rejection: 'unknown' }, null, 0);
    expect(cache.get('a', 4_999)).toBeDefined();
    expect(cache.get('b', 4_999)).toEqual({ rejection: 'unknown' });
    expect(cache.get('b', 5_000)).toBeUndefined();
    expect(cache.get('a', 29_999)).toBeDefined();
    expect(cache.get('a', 30_000)).toBeUndefined();
  });

  it('evicts every key of a customer at once', () => {
    const cache = new ApiKeyCache();
    cache.set('a', consumer('c1'), 'c1', 0);
    cache.set('b', consumer('c1'), 'c1', 0);
    cache.set('c', consumer('c2'), 'c2', 0);
    cache.evictCustomer('c1');
    expect(cache.get('a', 1)).toBeUndefined();
    expect(cache.get('b', 1)).toBeUndefined();
    expect(cache.get('c', 1)).toBeDefined();
  });

  it('expires a changed key but keeps its consumer for an outage; rejections are dropped', () => {
    const cache = new ApiKeyCache();
    cache.set('a', consumer('c1'), 'c1', 0);
    cache.set('b', consumer('c1'), 'c1', 0);
    cache.set('n', { rejection: 'unknown' }, null, 0);
    cache.expireCustomer('c1');
    cache.expireKey('n');
    expect(cache.get('a', 1)).toBeUndefined();
    expect(cache.get('b', 1)).toBeUndefined();
    expect(cache.stale('a')).toEqual(consumer('c1'));
    expect(cache.stale('n')).toBeUndefined();
    expect(cache.get('n', 1)).toBeUndefined();
    // An eviction (revocation, suspension) leaves nothing to fall back on.
    cache.evictKey('a');
    expect(cache.stale('a')).toBeUndefined();
  });

  it('stays bounded', () => {
    const cache = new ApiKeyCache();
    for (let i = 0; i < 60_000; i++) cache.set(`h${i}`, { rejection: 'unknown' }, null, 0);
    expect(cache.size).toBeLessThanOrEqual(50_000);
    expect(cache.get('h59999', 1)).toBeDefined();
  });
});
