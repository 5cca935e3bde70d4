import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The boundary lint (`npm run lint` runs dependency-cruiser with .dependency-cruiser.mjs on src/) must not be a
 * silent no-op: on a fixture tree with one deliberate violation of each rule it reports every one (and nothing
 * for the allowed imports), and on the real src/ it cruises the whole tree and finds nothing.
 */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = join(root, 'test', 'boundaries', 'fixture');
const cli = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const config = join(root, '.dependency-cruiser.mjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function cruise(cwd: string): Promise<{ violations: Violation[]; totalCruised: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, [cli, 'src', '--config', config, '--output-type', 'json'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  const result = JSON.parse(stdout) as { summary: { violations: Violation[]; totalCruised: number } };
  return result.summary;
}

describe('boundary lint (dependency-cruiser)', () => {
  it('reports each deliberate violation in the fixture, and none of its allowed imports', async () => {
    const { violations } = await cruise(fixture);
    const found = violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    expect(found).toEqual(
      [
        // alpha reaches into beta's internal file instead of beta/index.ts.
        'no-module-internals: src/alpha/alpha.service.ts -> src/beta/beta.service.ts',
        // A root file reaching into gamma's internal file.
        'no-module-internals-from-root: src/main.ts -> src/gamma/gamma.ts',
        // gamma's file imports gamma's own index.
        'no-own-index: src/gamma/gamma.ts -> src/gamma/index.ts',
        // delta imports the composition root.
        'no-root-from-modules: src/delta/delta.ts -> src/index.ts',
        // beta imports alpha (through its index) while alpha imports beta: folder and file cycles.
        'no-folder-cycles: src/alpha -> src/beta',
        'no-folder-cycles: src/beta -> src/alpha',
        'no-file-cycles: src/alpha/alpha.service.ts -> src/beta/beta.service.ts',
        'no-file-cycles: src/gamma/gamma.ts -> src/gamma/index.ts',
        'no-file-cycles: src/delta/delta.ts -> src/index.ts',
        // The library root reaches a module's HTTP API (delta imports epsilon/api.ts).
        'library-without-service: src/index.ts -> src/epsilon/api.ts',
      ].sort(),
    );
  });

  it('finds no violation in src/, having cruised all of it', async () => {
    const { violations, totalCruised } = await cruise(root);
    expect(violations).toEqual([]);
    // Every module folder's index plus their files: a misconfigured path would cruise (and check) nothing.
    expect(totalCruised).toBeGreaterThan(200);
  });
});
