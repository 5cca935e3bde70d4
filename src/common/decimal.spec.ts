import { addDecimals, compareDecimals, multiplyDecimal, multiplyDecimals, normalizeDecimal, roundDecimal, toMinorUnits } from './decimal.js';

describe('decimal', () => {
  it('adds without float error', () => {
    expect(addDecimals('0.1', '0.2')).toBe('0.3');
    expect(addDecimals('49.00', '20')).toBe('69');
  });

  it('multiplies a unit price by a count exactly', () => {
    expect(multiplyDecimal('0.002', 10_000)).toBe('20');
    expect(multiplyDecimal('0.0001', 3)).toBe('0.0003');
    expect(multiplyDecimal('0.002', 9_007_199_254_740_993n)).toBe('18014398509481.986');
  });

  it('normalizes with a minimum number of fraction digits', () => {
    expect(normalizeDecimal('49', 2)).toBe('49.00');
    expect(normalizeDecimal('49.500', 2)).toBe('49.50');
    expect(normalizeDecimal('0.00200')).toBe('0.002');
  });

  it('compares', () => {
    expect(compareDecimals('0.10', '0.1')).toBe(0);
    expect(compareDecimals('-1', '0.5')).toBe(-1);
    expect(compareDecimals('10.001', '10')).toBe(1);
  });

  it('converts to minor units only when exact', () => {
    expect(toMinorUnits('49.00')).toBe(4900);
    expect(toMinorUnits('0.002')).toBeNull();
    expect(toMinorUnits('0.010')).toBe(1);
  });

  it('rounds half away from zero to cents', () => {
    expect(roundDecimal('20')).toBe('20.00');
    expect(roundDecimal('0.005')).toBe('0.01');
    expect(roundDecimal('0.0049')).toBe('0.00');
    expect(roundDecimal('-0.005')).toBe('-0.01');
    expect(roundDecimal('69.999')).toBe('70.00');
    expect(multiplyDecimals('0.002', '100')).toBe('0.2');
  });

  it('rejects what is not a decimal', () => {
    expect(() => normalizeDecimal('1e3')).toThrow(RangeError);
    expect(() => normalizeDecimal('$5')).toThrow(RangeError);
  });
});
