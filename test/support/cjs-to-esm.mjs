// Jest on Node 20 cannot `require()` an ES module, and @nestjs/throttler (CommonJS) requires Nest 12
// (ES modules only). Node itself can, so the service runs fine; only the test runner needs help.
// This writes an ES-module twin of a CommonJS package: each file's body runs unchanged inside a
// function that receives its dependencies through static imports, so Jest loads one copy of Nest.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { init, parse } from 'cjs-module-lexer';

export async function writeEsmTwin(packageName, outDir) {
  await init();
  const require = createRequire(join(process.cwd(), 'package.json'));
  const sourceDir = dirname(require.resolve(packageName));
  mkdirSync(outDir, { recursive: true });
  for (const file of readdirSync(sourceDir).filter((name) => name.endsWith('.js'))) {
    const source = readFileSync(join(sourceDir, file), 'utf8');
    const specifiers = [...new Set([...source.matchAll(/require\("([^"]+)"\)/g)].map((match) => match[1]))];
    const imports = specifiers.map((specifier, i) => {
      const target = specifier.startsWith('.') ? `${specifier.replace(/\.js$/, '')}.mjs` : specifier;
      return `import * as __dep${i} from ${JSON.stringify(target)};`;
    });
    const table = specifiers.map((specifier, i) => `${JSON.stringify(specifier)}: __dep${i}`).join(', ');
    const { exports, reexports } = parse(source);
    const names = exports.filter((name) => name !== '__esModule' && name !== 'default' && /^[A-Za-z_$][\w$]*$/.test(name));
    const output = [
      ...imports,
      `const __deps = { ${table} };`,
      'const module = { exports: {} };',
      `const require = (id) => { if (!(id in __deps)) throw new Error('esm twin: unexpected require ' + id); return __deps[id]; };`,
      `(function (exports, require, module) {\n${source}\n})(module.exports, require, module);`,
      ...names.map((name) => `export const ${name} = module.exports.${name};`),
      ...reexports.map((specifier) => `export * from ${JSON.stringify(`${specifier.replace(/\.js$/, '')}.mjs`)};`),
      'export default module.exports;',
    ];
    writeFileSync(join(outDir, file.replace(/\.js$/, '.mjs')), `${output.join('\n')}\n`);
  }
  return join(outDir, 'index.mjs');
}
