import { ConstantTimeComparator } from './constant-time.js';

describe('ConstantTimeComparator', () => {
  const comparator = new ConstantTimeComparator();

  it('compares digests', () => {
    const a = 'ab'.repeat(32);
    expect(comparator.digestsEqual(a, a)).toBe(true);
    expect(comparator.digestsEqual(a, 'ac'.repeat(32))).toBe(false);
    expect(comparator.digestsEqual(a, 'ab'.repeat(31))).toBe(false);
    expect(comparator.digestsEqual('', '')).toBe(false);
  });

  it('compares secrets of different lengths without throwing', () => {
    expect(comparator.secretsEqual('token-1234567890', 'token-1234567890')).toBe(true);
    expect(comparator.secretsEqual('short', 'token-1234567890')).toBe(false);
  });
});
