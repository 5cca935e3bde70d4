// `npm run bench` (second part): how fast usage reaches Stripe. Loopback only: the project's Stripe emulator.
// Baseline: the same number of meter events sent straight through the SDK (no outbox, no planning), at the
// same client-side pace, in the same run. Candidate: UsageSyncService pushing one counter per customer.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import pg from 'pg';
import Stripe from 'stripe';
import type { DataSource } from 'typeorm';
import { StripeEmulator } from '../test/stripe-emulator/stripe-emulator.js';
import { AppModule } from '../src/app.module.js';
import { CatalogProvisioner } from '../src/billing/catalog.provisioner.js';
import { UsageSyncService } from '../src/billing/usage-sync.service.js';
import { parseTierCatalog } from '../src/config/tier-catalog.js';
import { TollgateConfig } from '../src/config/tollgate-config.js';
import { calendarMonth } from '../src/metering/billing-period.js';
import { UsageLedger } from '../src/metering/usage-ledger.js';
import { StripeRateLimiter } from '../src/billing/stripe-rate.limiter.js';
import type { LogSink } from '../src/logging/log-sink.js';
import { TOLLGATE_CONNECTION } from '../src/database/tollgate-connection.js';

const CUSTOMERS = Number(process.env.BENCH_SYNC_CUSTOMERS ?? 10_000);
const RATE = Number(process.env.BENCH_STRIPE_RPS ?? 1_000);
const STRIPE_KEY = 'sk_test_bench';

class QuietSink implements LogSink {
  write(line: string): void {
    if (/"level":"(error|fatal)"/.test(line)) process.stderr.write(line);
  }
}

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item);
  }));
}

async function main(): Promise<void> {
  const emulator = await StripeEmulator.start();
  const dataDir = mkdtempSync(join(tmpdir(), 'tollgate-bench-sync-'));
  const schema = `bench_sync_${randomBytes(4).toString('hex')}`;
  const databaseUrl = process.env.DATABASE_URL ?? null;
  if (databaseUrl) {
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.end();
  }
  const config = TollgateConfig.create({
    port: 0,
    adminToken: randomBytes(24).toString('base64url'),
    databaseUrl,
    databaseSchema: databaseUrl ? schema : 'public',
    dataDir,
    catalog: parseTierCatalog(readFileSync(new URL('../../tiers.yaml', import.meta.url), 'utf8')),
    stripe: { secretKey: STRIPE_KEY, apiUrl: emulator.url, webhookSecret: emulator.webhookSecret },
    stripeMaxRequestsPerSecond: RATE,
    stripeRetryBaseMs: 20,
    syncCron: '0 0 1 1 *',
    logLevel: 'error',
    encryptionKey: randomBytes(32).toString('hex'),
  });
  const app = await NestFactory.createApplicationContext(AppModule.forRoot({ config, logSink: new QuietSink() }), { logger: ['error'] });
  const stripe = new Stripe(STRIPE_KEY, { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0 });
  try {
    await app.get(CatalogProvisioner).provision();
    process.stdout.write(`\nstripe-sync: preparing ${CUSTOMERS} customers with usage (client pace ${RATE}/s)…\n`);
    const stripeIds: string[] = [];
    await pool(Array.from({ length: CUSTOMERS }, (_, i) => i), 64, async (i) => {
      stripeIds[i] = (await stripe.customers.create({ name: `bench ${i}` })).id;
    });
    const ds = app.get<DataSource>(getDataSourceToken(TOLLGATE_CONNECTION), { strict: false });
    const period = calendarMonth(new Date());
    const ids = stripeIds.map((_, i) => `cus_bench${String(i).padStart(8, '0')}`);
    for (let offset = 0; offset < CUSTOMERS; offset += 1000) {
      const slice = ids.slice(offset, offset + 1000);
      await ds.query(
        `INSERT INTO customers (id, name, tier, status, overrides, stripe_customer_id)
         SELECT id, id, 'pro', 'active', '{}'::jsonb, sid FROM unnest($1::text[], $2::text[]) AS t(id, sid)`,
        [slice, stripeIds.slice(offset, offset + 1000)],
      );
      await app.get(UsageLedger).insertBatch(
        slice.map((customerId, i) => ({
          customerId,
          meter: 'api_calls',
          quantity: 100 + ((offset + i) % 900),
          idempotencyKey: `bench-${customerId}`,
          occurredAt: new Date(),
          periodStart: period.start,
          periodEnd: period.end,
          properties: null,
        })),
      );
    }

    // Baseline: the same number of meter events straight through the SDK, same pace, same concurrency.
    const limiter = new StripeRateLimiter(RATE);
    const baselineStart = performance.now();
    await pool(stripeIds, 8, async (customer) => {
      await limiter.acquire();
      await stripe.billing.meterEvents.create({ event_name: 'tollgate_api_calls', payload: { stripe_customer_id: customer, value: '0' } });
    });
    const baselineSeconds = (performance.now() - baselineStart) / 1000;

    const syncStart = performance.now();
    const report = await app.get(UsageSyncService).sync();
    const syncSeconds = (performance.now() - syncStart) / 1000;
    if (report.sent !== CUSTOMERS || report.stillPending !== 0) throw new Error(`sync incomplete: ${JSON.stringify(report)}`);

    const rows = [
      ['SDK meterEvents.create loop (baseline)', CUSTOMERS, baselineSeconds, CUSTOMERS / baselineSeconds],
      ['UsageSyncService.sync (outbox + push)', report.sent, syncSeconds, report.sent / syncSeconds],
    ] as const;
    const baselineRate = rows[0][3];
    process.stdout.write(`\nstripe-sync — ${CUSTOMERS} customers, ${databaseUrl ? 'Postgres' : 'embedded PGlite'}, emulator on loopback, client pace ${RATE}/s\n\n`);
    process.stdout.write('| what | pushes | seconds | pushes/s | ratio vs baseline |\n|---|---:|---:|---:|---:|\n');
    for (const [what, pushes, seconds, rate] of rows) {
      process.stdout.write(`| ${what} | ${pushes} | ${seconds.toFixed(2)} | ${rate.toFixed(0)} | ${(rate / baselineRate).toFixed(3)} |\n`);
    }
    process.stdout.write(`\ntime to sync ${CUSTOMERS} customers: ${syncSeconds.toFixed(2)} s\n`);
  } finally {
    await app.close();
    await emulator.stop();
    rmSync(dataDir, { recursive: true, force: true });
    if (databaseUrl) {
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      await admin.query(`DROP SCHEMA "${schema}" CASCADE`);
      await admin.end();
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`stripe-sync bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
