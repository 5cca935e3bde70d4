import { findTextProblem, textProblem } from './text.js';

describe('textProblem', () => {
  it('passes any well-formed Unicode text, right-to-left marks and emoji included', () => {
    for (const text of ['', 'Acme', 'ةيبرعلا', '\u202eevil', '😀', 'tab\tnew\nline', '\u0001\u001f']) expect(textProblem(text)).toBeNull();
  });

  it('refuses NUL characters and unpaired surrogates', () => {
    expect(textProblem('a\u0000b')).toBe('must not contain NUL characters');
    expect(textProblem('\ud800')).toMatch(/valid Unicode/);
    expect(textProblem('x\udc00')).toMatch(/valid Unicode/);
    expect(textProblem('\ud83d\ude00\ud83d')).toMatch(/valid Unicode/);
  });
});

describe('findTextProblem', () => {
  it('names the path of the first bad string, in values and keys', () => {
    expect(findTextProblem({ name: 'ok', overrides: { rateLimit: ['1/s', 'x\u0000'] } })).toEqual({
      field: 'overrides.rateLimit.1',
      problem: 'must not contain NUL characters',
    });
    expect(findTextProblem({ properties: { 'k\u0000': 1 } }, 'events.2')).toEqual({
      field: 'events.2.properties',
      problem: 'property names must not contain NUL characters',
    });
    expect(findTextProblem('\u0000', 'customerId')).toEqual({ field: 'customerId', problem: 'must not contain NUL characters' });
  });

  it('passes clean values of every type', () => {
    expect(findTextProblem({ a: [1, true, null, { b: 'c' }], d: 1e308 })).toBeNull();
    expect(findTextProblem(undefined)).toBeNull();
  });
});
