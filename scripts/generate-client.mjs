// `npm run generate:client`: regenerates src/client/openapi-types.ts from the service's OpenAPI document, built by
// the compiled service (`npm run build` first; the npm script does it) without starting anything.
import 'reflect-metadata';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NestFactory } from '@nestjs/core';
import { CLIENT_TYPES_FILE, DOCUMENT_CONFIG, clientTypes } from './client-types.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (path) => import(join(root, 'dist/src', path));
const { AppModule } = await dist('app.module.js');
const { createOpenApiDocument } = await dist('openapi.document.js');
const { TollgateConfig, parseTierCatalog } = await dist('config/index.js');

const config = TollgateConfig.create({
  ...DOCUMENT_CONFIG,
  adminToken: 'generate-client-admin-token-0123456789',
  encryptionKey: 'generate-client-encryption-key-0123456789abc',
  catalog: parseTierCatalog(readFileSync(join(root, 'tiers.yaml'), 'utf8')),
});
// Preview: the module graph and its controllers, no provider instantiated (no database, no Redis).
const app = await NestFactory.create(AppModule.forRoot({ config }), { preview: true, logger: false });
const text = await clientTypes(createOpenApiDocument(app));
const target = join(root, CLIENT_TYPES_FILE);
const before = (() => {
  try {
    return readFileSync(target, 'utf8');
  } catch {
    return null;
  }
})();
writeFileSync(target, text);
process.stdout.write(`generate:client: ${CLIENT_TYPES_FILE} ${before === text ? 'unchanged' : 'written'} (${text.length} characters)\n`);
