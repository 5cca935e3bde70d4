/**
 * Marks that a step of the request path has run for this request. A host app may apply the guards both
 * globally and with `@UseGuards(...TOLLGATE_GUARDS)`; Nest then runs each guard twice, and a guard that
 * charges (rate limit, quota) must not charge twice.
 *
 * The mark is a symbol-keyed property of the request itself: a WeakMap entry (plus a Set) per request was a
 * measurable share of the request path's garbage-collection time (issue "Speed").
 */
type Marked = Record<symbol, true | undefined>;

/** True the first time `step` asks for `request`, false on every later call. */
export function firstRunFor(request: object, step: symbol): boolean {
  const marked = request as Marked;
  if (marked[step]) return false;
  marked[step] = true;
  return true;
}
