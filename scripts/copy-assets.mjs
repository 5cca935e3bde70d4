// Copies non-TypeScript files the service reads at run time into dist/ (tsc only emits .js):
// the developer portal's and the operator console's pages, styles and scripts.
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const copies = [
  ['src/portal/assets', 'dist/src/portal/assets'],
  ['src/console/assets', 'dist/src/console/assets'],
];

for (const [from, to] of copies) {
  const source = join(root, from);
  if (!existsSync(source)) throw new Error(`copy-assets: ${from} is missing`);
  mkdirSync(join(root, to), { recursive: true });
  cpSync(source, join(root, to), { recursive: true });
  console.log(`copy-assets: ${from} -> ${to}`);
}
