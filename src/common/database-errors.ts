/**
 * True for errors that mean "the database is not reachable right now" (connection refused/reset/timeout,
 * server shutting down, PGlite closed), as opposed to "the database refused this statement".
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code ?? '';
  const message = (error as Error | null)?.message ?? '';
  return (
    /^(08|57P|53)/.test(code) ||
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code) ||
    /terminat|timeout|Connection|connect|closed|not queryable|PGlite is closed/i.test(message)
  );
}
