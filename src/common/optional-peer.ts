/**
 * Drivers a host app may not need (pg, PGlite, ioredis, nats, stripe, nodemailer) are optional peer dependencies: they
 * are imported only when the option that needs them is set, so an app without them still loads Tollgate.
 */
export class MissingPackageError extends Error {
  constructor(
    readonly packageName: string,
    readonly neededFor: string,
  ) {
    super(`The "${packageName}" package is missing. Install it to use ${neededFor}: npm install ${packageName}`);
    this.name = 'MissingPackageError';
  }
}

/** True when `error` says that `packageName` itself (not something it imports) could not be found. */
function isMissing(error: unknown, packageName: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return typeof message === 'string' && (message.includes(`'${packageName}'`) || message.includes(`"${packageName}"`));
}

/**
 * Runs `load` (a literal `import('pkg')`, so types and bundlers see the name); a missing package becomes an
 * error naming it and what it is needed for (nest core's loadPackage style, without exiting the process).
 */
export async function loadOptionalPeer<T>(packageName: string, neededFor: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissing(error, packageName)) throw new MissingPackageError(packageName, neededFor);
    throw error;
  }
}
