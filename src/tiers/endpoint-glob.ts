/**
 * Endpoint globs from tiers.yaml: `*` matches one path segment, `**` any number of segments (including none).
 * `/v1/*` matches `/v1/search` but not `/v1/admin/stats`, which is why the seed lists `/v1/admin/*` apart.
 */
export function compileEndpointGlob(pattern: string): RegExp {
  const trimmed = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  let source = '';
  for (let i = 0; i < trimmed.length; i++) {
    const char = trimmed[i];
    if (char === '*' && trimmed[i + 1] === '*') {
      // `/**` at a segment boundary also matches the bare prefix: /v1/** matches /v1.
      if (source.endsWith('/')) source = `${source.slice(0, -1)}(?:/.*)?`;
      else source += '.*';
      i++;
    } else if (char === '*') {
      source += '[^/]+';
    } else {
      source += char.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}/?$`);
}

export function normalizePath(path: string): string {
  const withoutQuery = path.split('?')[0];
  const collapsed = withoutQuery.replace(/\/{2,}/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}
