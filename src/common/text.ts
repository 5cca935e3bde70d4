/**
 * What Postgres cannot store in `text` or `jsonb`: NUL characters (`text` refuses them, `jsonb` refuses
 * `\u0000`) and unpaired UTF-16 surrogates (`jsonb` refuses them; `text` would silently get U+FFFD).
 */
// eslint-disable-next-line no-control-regex -- finding NUL is the point
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const SURROGATE = /[\ud800-\udfff]/;

/** Why a string cannot be stored as text, or null when it can. */
export function textProblem(value: string): string | null {
  // Fast path for the common case: no NUL, no surrogate at all (plain text, BMP characters).
  if (!value.includes('\u0000') && !SURROGATE.test(value)) return null;
  const match = UNSTORABLE.exec(value);
  if (!match) return null;
  return match[0] === '\u0000' ? 'must not contain NUL characters' : 'must be valid Unicode text (no unpaired surrogates)';
}

export interface TextProblem {
  /** Dotted path of the offending value (`name`, `overrides.rateLimit.0`), or of the object whose key it is. */
  field: string;
  problem: string;
}

/**
 * The first string (value or object key) in `value` that cannot be stored, with its path. Request bodies are
 * at most 32 levels deep before they are parsed (see json-structure.ts); `maxDepth` bounds the walk anyway.
 */
export function findTextProblem(value: unknown, prefix = '', maxDepth = 64): TextProblem | null {
  const path: string[] = [];
  const problem = walk(value, path, maxDepth);
  return problem ? { field: [prefix, ...path].filter((part) => part !== '').join('.'), problem } : null;
}

/** The problem found under `value`; `path` gets its location, built only on the way back from a find. */
function walk(value: unknown, path: string[], depth: number): string | null {
  if (typeof value === 'string') return textProblem(value);
  if (typeof value !== 'object' || value === null || depth <= 0) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = walk(value[i], path, depth - 1);
      if (problem) {
        path.unshift(String(i));
        return problem;
      }
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const keyProblem = textProblem(key);
    if (keyProblem) return `property names ${keyProblem}`;
    const problem = walk((value as Record<string, unknown>)[key], path, depth - 1);
    if (problem) {
      path.unshift(key);
      return problem;
    }
  }
  return null;
}
