import { compileEndpointGlob, normalizePath } from './endpoint-glob.js';

describe('endpoint globs', () => {
  it.each([
    ['/v1/basic/*', '/v1/basic/echo', true],
    ['/v1/basic/*', '/v1/basic', false],
    ['/v1/basic/*', '/v1/basic/a/b', false],
    ['/v1/*', '/v1/search', true],
    ['/v1/*', '/v1/admin/stats', false],
    ['/v1/admin/*', '/v1/admin/stats', true],
    ['/v1/**', '/v1/admin/stats', true],
    ['/v1/**', '/v1', true],
    ['/v1/search', '/v1/search', true],
    ['/v1/search', '/v1/searches', false],
    ['/v1/*.json', '/v1/data.json', true],
    ['/v1/*.json', '/v1/dataXjson', false],
  ])('%s against %s → %s', (pattern, path, expected) => {
    expect(compileEndpointGlob(pattern).test(path)).toBe(expected);
  });

  it('normalizes paths', () => {
    expect(normalizePath('/v1//search/?q=1')).toBe('/v1/search');
    expect(normalizePath('/')).toBe('/');
  });
});
