import { rm } from 'node:fs/promises';

export default async function globalTeardown(): Promise<void> {
  if (process.env.TOLLGATE_TEST_PGLITE_TEMPLATE) await rm(process.env.TOLLGATE_TEST_PGLITE_TEMPLATE, { force: true });
}
