import { jsonQuantity, parseQuantity } from './quantity.js';

describe('usage quantities as JSON', () => {
  it('are numbers while exact and decimal strings beyond 2^53 − 1', () => {
    expect(jsonQuantity(0n)).toBe(0);
    expect(jsonQuantity(9_007_199_254_740_991n)).toBe(Number.MAX_SAFE_INTEGER);
    expect(jsonQuantity(9_007_199_254_740_992n)).toBe('9007199254740992');
    expect(jsonQuantity(9_223_372_036_854_775_807n)).toBe('9223372036854775807');
    expect(jsonQuantity(-9_007_199_254_740_993n)).toBe('-9007199254740993');
  });

  it('read back exactly, refusing anything inexact', () => {
    expect(parseQuantity('9007199254740993')).toBe(9_007_199_254_740_993n);
    expect(parseQuantity(42)).toBe(42n);
    expect(() => parseQuantity(2 ** 53)).toThrow(RangeError);
    expect(() => parseQuantity(1.5)).toThrow(RangeError);
    expect(() => parseQuantity('1e3')).toThrow(RangeError);
  });
});
