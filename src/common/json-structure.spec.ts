import { jsonStructureProblem } from './json-structure.js';

const limits = { maxDepth: 4, maxWidth: 3 };
const scan = (text: string) => jsonStructureProblem(Buffer.from(text), limits)?.error ?? null;

describe('jsonStructureProblem', () => {
  it('passes JSON within the limits, at the limits exactly', () => {
    expect(scan('{"a":[1,2,3],"b":{"c":[{}]},"d":"x"}')).toBeNull();
    expect(scan('[[[[1,2,3]]]]')).toBeNull();
    expect(scan('[]')).toBeNull();
    expect(scan('')).toBeNull();
  });

  it('refuses nesting one level deeper than the limit, arrays and objects alike', () => {
    expect(scan('[[[[[1]]]]]')).toBe('payload_too_deep');
    expect(scan('{"a":{"b":{"c":{"d":{}}}}}')).toBe('payload_too_deep');
    expect(scan('[{"a":[{"b":[]}]}]')).toBe('payload_too_deep');
  });

  it('refuses one entry more than the width limit, at any depth', () => {
    expect(scan('[1,2,3,4]')).toBe('payload_too_wide');
    expect(scan('{"a":1,"b":2,"c":3,"d":4}')).toBe('payload_too_wide');
    expect(scan('[[1,2],[1,2,3,4]]')).toBe('payload_too_wide');
    // Siblings do not add up: each container counts its own entries.
    expect(scan('[[1,2,3],[1,2,3],[1,2,3]]')).toBeNull();
  });

  it('ignores brackets and commas inside strings, escaped quotes included', () => {
    expect(scan('["[[[[[[,,,,,,", "\\"[[[[[[,,,,", "\\\\"]')).toBeNull();
    expect(scan('{"k\\"[[[[[": "]]]]]]"}')).toBeNull();
    expect(scan('["\\\\", [[[[1]]]]]')).toBe('payload_too_deep');
  });

  it('passes multi-byte UTF-8 text through untouched', () => {
    expect(scan('["日本語", "ةيبرعلا", "😀\u202e"]')).toBeNull();
    expect(scan('["日本語", "ةيبرعلا", "😀", "\u202e"]')).toBe('payload_too_wide');
  });

  it('stops at the first level too deep of a million nested arrays, and survives garbage', () => {
    const deep = Buffer.from('['.repeat(1_000_000) + ']'.repeat(1_000_000));
    expect(jsonStructureProblem(deep, { maxDepth: 32, maxWidth: 1000 })).toEqual({
      error: 'payload_too_deep',
      message: 'The JSON body nests deeper than 32 levels.',
    });
    expect(scan(']]]]]}}}}}[1]"')).toBeNull();
    expect(scan(',,,,,,,,')).toBeNull();
  });
});
