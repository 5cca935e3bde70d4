/** `npm run stripe:provision`: creates the Stripe side of tiers.yaml (idempotent) and prints what it did. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { ConfigErrors, configFromEnvironment } from './config/index.js';
import { CatalogProvisioner } from './billing/index.js';

async function main(): Promise<void> {
  const config = configFromEnvironment(process.env);
  config.demo = false;
  const app = await NestFactory.createApplicationContext(AppModule.forRoot({ config }), { logger: ['error', 'warn'] });
  try {
    const report = await app.get(CatalogProvisioner).provision();
    for (const item of report.created) console.log(`created  ${item}`);
    for (const item of report.existing) console.log(`exists   ${item}`);
    for (const item of report.deactivated) console.log(`archived ${item}`);
    console.log(`${report.created.length} created, ${report.existing.length} already in Stripe, ${report.deactivated.length} replaced prices archived`);
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigErrors ? error.message : error instanceof Error ? error.message : error);
  process.exit(1);
});
