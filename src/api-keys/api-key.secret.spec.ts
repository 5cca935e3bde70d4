import { API_KEY_PATTERN, generateApiKey, hashApiKey, looksLikeApiKey } from './api-key.secret.js';

describe('API key secrets', () => {
  it('look like tg_live_/tg_test_ + 43 base62 characters (32 random bytes)', () => {
    const live = generateApiKey('live');
    const test = generateApiKey('test');
    expect(live.secret).toMatch(/^tg_live_[0-9A-Za-z]{43}$/);
    expect(test.secret).toMatch(/^tg_test_[0-9A-Za-z]{43}$/);
    expect(looksLikeApiKey(live.secret)).toBe(true);
    expect(API_KEY_PATTERN.test('tg_prod_x')).toBe(false);
  });

  it('store only a SHA-256 digest and a short display prefix', () => {
    const key = generateApiKey('live');
    expect(key.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(key.hash).toBe(hashApiKey(key.secret));
    expect(key.prefix).toBe(key.secret.slice(0, 12));
    expect(key.hash).not.toContain(key.secret.slice(8));
  });

  it('never repeat', () => {
    const secrets = new Set(Array.from({ length: 2000 }, () => generateApiKey('live').secret));
    expect(secrets.size).toBe(2000);
  });
});
