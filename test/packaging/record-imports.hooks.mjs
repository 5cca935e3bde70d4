// Module hooks (module.register) for a child process: every URL the process resolves is appended, one a line, to
// the file named by TOLLGATE_IMPORTS_FILE. Packages listed in TOLLGATE_HIDE_PACKAGES resolve as not installed.
import { appendFileSync } from 'node:fs';

const out = process.env.TOLLGATE_IMPORTS_FILE;
const hidden = new Set((process.env.TOLLGATE_HIDE_PACKAGES ?? '').split(',').filter(Boolean));

export async function resolve(specifier, context, nextResolve) {
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
  if (hidden.has(name)) {
    throw Object.assign(new Error(`Cannot find package '${name}' imported from ${context.parentURL}`), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  const resolved = await nextResolve(specifier, context);
  if (out) appendFileSync(out, `${resolved.url}\n`);
  return resolved;
}
