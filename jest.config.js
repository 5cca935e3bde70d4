/** Jest on native ESM (Nest 12 is ESM-only): ts-jest in ESM mode, run with --experimental-vm-modules. */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  // `tollgate` is how examples import the library, as a user would; tests map it to the sources.
  // @nestjs/throttler is CommonJS requiring ES-only Nest: tests load its ES twin (test/support/cjs-to-esm.mjs).
  moduleNameMapper: {
    '^@nestjs/throttler$': '<rootDir>/node_modules/.cache/tollgate-jest/nestjs-throttler/index.mjs',
    '^tollgate$': '<rootDir>/src/index.ts',
    '^tollgate/service$': '<rootDir>/src/service.ts',
    '^tollgate/client$': '<rootDir>/src/client/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30000,
  maxWorkers: 2,
};
