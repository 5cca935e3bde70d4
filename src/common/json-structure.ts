/** How deep and how wide a JSON body may be before it is parsed. */
export interface JsonStructureLimits {
  /** Containers (`[` / `{`) open at once. */
  maxDepth: number;
  /** Elements of one array, or members of one object. */
  maxWidth: number;
}

export interface JsonStructureProblem {
  error: 'payload_too_deep' | 'payload_too_wide';
  message: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

/**
 * One linear pass over the raw bytes of a JSON text, before anything parses it: refuses nesting deeper than
 * `maxDepth` and containers with more than `maxWidth` entries. Parsing and then walking a hostile body
 * (a million nested arrays, a million-element array) is what blocks the event loop; this costs a few ms per
 * MB and allocates nothing but one small array. It does not check the syntax: JSON.parse does that next.
 * UTF-8 is safe to scan byte by byte: every byte of a multi-byte sequence is ≥ 0x80.
 */
export function jsonStructureProblem(bytes: Uint8Array, limits: JsonStructureLimits): JsonStructureProblem | null {
  const { maxDepth, maxWidth } = limits;
  // Commas seen in each open container: a container has (commas + 1) entries.
  const commas = new Uint32Array(maxDepth + 1);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
      continue;
    }
    switch (byte) {
      case QUOTE:
        inString = true;
        break;
      case OPEN_ARRAY:
      case OPEN_OBJECT:
        if (++depth > maxDepth) {
          return { error: 'payload_too_deep', message: `The JSON body nests deeper than ${maxDepth} levels.` };
        }
        commas[depth] = 0;
        break;
      case CLOSE_ARRAY:
      case CLOSE_OBJECT:
        if (depth > 0) depth--;
        break;
      case COMMA:
        if (depth > 0 && ++commas[depth] >= maxWidth) {
          return { error: 'payload_too_wide', message: `A JSON array or object in the body has more than ${maxWidth} entries.` };
        }
        break;
      default:
        break;
    }
  }
  return null;
}
