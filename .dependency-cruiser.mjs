// Module boundaries of src/ (run by `npm run lint`). Each folder under src/ is a module whose public surface is its
// index.ts (and, for the billing service only, its HTTP API in api.ts): another folder (or a root file such as
// src/index.ts) imports only those; a folder imports its own files
// directly, never its own index (that is how an ESM cycle leaves a decorated class undefined). No cycles at all:
// neither between files nor between folders. Tests (*.spec.ts, test/) may reach into internals.
/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-module-internals',
      comment: "Import another module through its index.ts (add the name there if it is part of its public surface).",
      severity: 'error',
      from: { path: '^src/([^/]+)/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^src/[^/]+/', pathNot: ['^src/$1/', '^src/[^/]+/(index|api)\\.ts$'] },
    },
    {
      name: 'no-module-internals-from-root',
      comment: 'Root files (src/*.ts) import modules through their index.ts too.',
      severity: 'error',
      from: { path: '^src/[^/]+\\.ts$', pathNot: '\\.spec\\.ts$' },
      to: { path: '^src/[^/]+/', pathNot: '^src/[^/]+/(index|api)\\.ts$' },
    },
    {
      name: 'no-own-index',
      comment: "Inside a module import the file itself, not the module's own index.ts.",
      severity: 'error',
      from: { path: '^src/([^/]+)/', pathNot: ['\\.spec\\.ts$', '^src/[^/]+/(index|api)\\.ts$'] },
      to: { path: '^src/$1/(index|api)\\.ts$' },
    },
    {
      name: 'no-root-from-modules',
      comment: 'Modules must not import the composition root (src/*.ts): it imports them.',
      severity: 'error',
      from: { path: '^src/[^/]+/', pathNot: '\\.spec\\.ts$' },
      to: { path: '^src/[^/]+\\.ts$' },
    },
    {
      name: 'library-without-service',
      comment:
        "`import 'tollgate'` (src/index.ts) must not load the service's parts: HTTP APIs (api.ts), admin, portal, console, demo, " +
        'health, metrics, the bootstrap, @nestjs/swagger or @nestjs/terminus (they are `tollgate/service`).',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: {
        reachable: true,
        path: ['^src/[^/]+/api\\.ts$', '^src/(admin|portal|console|demo|health|metrics)/', '^src/(app\\.module|bootstrap|openapi\\.document|service|main)\\.ts$', '@nestjs/swagger', '@nestjs/terminus'],
      },
    },
    {
      name: 'client-standalone',
      comment:
        '`tollgate/client` (src/client/) is imported by services that are not Nest: it imports only its own files ' +
        '(its generated openapi-types.ts included), no other module, no package, not even a Node built-in.',
      severity: 'error',
      from: { path: '^src/client/', pathNot: '\\.spec\\.ts$' },
      to: { pathNot: '^src/client/' },
    },
    {
      name: 'no-file-cycles',
      comment: 'A cycle between files (type-only imports included).',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.spec\\.ts$' },
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'A cycle between module folders.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.spec\\.ts$' },
    tsConfig: { fileName: 'tsconfig.json' },
    // Type-only imports count: a type cycle today is a value cycle after the next edit.
    tsPreCompilationDeps: true,
  },
};
