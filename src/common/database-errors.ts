/**
 * True for errors that mean "the database is not reachable right now" (connection refused/reset/timeout,
 * server shutting down, PGlite closed), as opposed to "the database refused this statement".
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code ?? '';
  const message = (error as Error | null)?.message ?? '';
  // The server answered with a statement error: it is up. (Such messages may quote input, "closed" included.)
  if (isInvalidDataError(error) || isUniqueViolation(error)) return false;
  return (
    /^(08|57P|53)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code) ||
    /terminat|timeout|Connection|connect|closed|not queryable|PGlite is closed/i.test(message)
  );
}

/**
 * SQLSTATEs that mean "this value is not acceptable" (data exceptions: NUL in text, bad Unicode escape in
 * jsonb, date/time or numeric out of range, malformed literal; a value too big for an index): the caller's
 * input, never an outage.
 */
const INVALID_DATA_CODES: ReadonlySet<string> = new Set(['22001', '22003', '22007', '22008', '22021', '22025', '22P02', '22P05', '54000']);

export function isInvalidDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && INVALID_DATA_CODES.has(code);
}

/** A unique constraint refused the row: typically two requests creating the same thing at once (check-then-insert races). */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}
