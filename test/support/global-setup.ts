import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// globalSetup is loaded outside Jest's module mapping: import packages only, no relative `.js` paths.
import { PGlite } from '@electric-sql/pglite';
// @ts-expect-error plain ESM helper without types
import { writeEsmTwin } from './cjs-to-esm.mjs';

/**
 * Without DATABASE_URL every test file gets its own embedded database. Creating PGlite from scratch takes
 * seconds (initdb); loading a dumped data directory takes a fraction of that, so dump one template here.
 */
/** jest.config.js maps `@nestjs/throttler` here. */
const THROTTLER_TWIN_DIR = join(process.cwd(), 'node_modules/.cache/tollgate-jest/nestjs-throttler');

export default async function globalSetup(): Promise<void> {
  process.env.STRIPE_SUPPRESS_NOTICES = 'true';
  await writeEsmTwin('@nestjs/throttler', THROTTLER_TWIN_DIR);
  if (process.env.DATABASE_URL) return;
  const pglite = await PGlite.create();
  const dump = await pglite.dumpDataDir('none');
  await pglite.close();
  const path = join(tmpdir(), `tollgate-pglite-template-${process.pid}.tar`);
  await writeFile(path, Buffer.from(await dump.arrayBuffer()));
  process.env.TOLLGATE_TEST_PGLITE_TEMPLATE = path;
}
