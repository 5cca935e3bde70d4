import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from '../../src/app.module.js';
import { parseTierCatalog } from '../../src/config/tier-catalog.js';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { createOpenApiDocument } from '../../src/openapi.document.js';
// The generator `npm run generate:client` runs (a plain ES module, typed by client-types.d.mts).
import { CLIENT_TYPES_FILE, clientTypes, DOCUMENT_CONFIG } from '../../scripts/client-types.mjs';

const ROOT = process.cwd();

/** src/client/openapi-types.ts is committed: it must be what the current sources' document generates. */
describe('the client types', () => {
  it('are up to date with the OpenAPI document (else run `npm run generate:client`)', async () => {
    const config = TollgateConfig.create({
      ...DOCUMENT_CONFIG,
      adminToken: 'client-types-admin-token-0123456789',
      encryptionKey: 'client-types-encryption-key-0123456789abcdef',
      catalog: parseTierCatalog(readFileSync(join(ROOT, 'tiers.yaml'), 'utf8')),
    });
    // Preview, as the generator does: the controllers' decorators, no provider instantiated.
    const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config }), { preview: true, logger: false });
    const expected = await clientTypes(createOpenApiDocument(app));
    const committed = readFileSync(join(ROOT, CLIENT_TYPES_FILE), 'utf8');
    // Compared line by line: a stale file fails naming the first lines that differ, not a 200 KB blob.
    const differing = expected
      .split('\n')
      .map((line, index) => ({ line: index + 1, expected: line, committed: committed.split('\n')[index] }))
      .filter((row) => row.expected !== row.committed)
      .slice(0, 5);
    expect(differing).toEqual([]);
    expect(committed).toBe(expected);
    // The demo API is not the service's: the client types leave it out.
    expect(committed).toContain('"/v1/keys/verify": {');
    expect(committed).not.toContain('"/v1/search"');
  });
});
