/**
 * Marks that a step of the request path has run for this request. A host app may apply the guards both
 * globally and with `@UseGuards(...TOLLGATE_GUARDS)`; Nest then runs each guard twice, and a guard that
 * charges (rate limit, quota) must not charge twice.
 */
const done = new WeakMap<object, Set<symbol>>();

/** True the first time `step` asks for `request`, false on every later call. */
export function firstRunFor(request: object, step: symbol): boolean {
  let steps = done.get(request);
  if (!steps) done.set(request, (steps = new Set()));
  if (steps.has(step)) return false;
  steps.add(step);
  return true;
}
