import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ApiKeysService, CustomersService, fromEnvironment, TollgateExceptionFilter } from 'tollgate';
import { HostAppModule } from './app.module.js';
import { SlackChannel } from './slack.channel.js';

// Run: npm run build && node dist/examples/host-app/main.js  (DEMO_KEYS=1 prints a key per tier to try).
// Tollgate reads no environment variable itself: fromEnvironment() maps the service's (DATABASE_URL, REDIS_URL,
// STRIPE_SECRET_KEY, …) onto options, validated. Without DATABASE_URL it uses its embedded database in ./.tollgate.
// SLACK_WEBHOOK_URL (a Slack incoming webhook) adds a third notification channel: usage alerts go to your Slack.
async function main(): Promise<void> {
  const slack = process.env.SLACK_WEBHOOK_URL;
  const app = await NestFactory.create(
    HostAppModule.forRoot({
      tiers: './tiers.yaml',
      ...fromEnvironment(process.env),
      notificationChannels: slack ? [new SlackChannel({ webhookUrl: slack })] : [],
    }),
  );
  // Tollgate's errors answered as the service answers them (e.g. 503 + Retry-After, not 500, while the database is away).
  app.useGlobalFilters(new TollgateExceptionFilter());
  app.enableShutdownHooks(); // SIGTERM closes Tollgate's database and Redis connections cleanly
  const port = Number(process.env.PORT ?? 4000);
  // HOST=127.0.0.1 serves loopback only; unset, every interface.
  await (process.env.HOST ? app.listen(port, process.env.HOST) : app.listen(port));

  // The library never seeds data: your signup/billing code provisions customers and keys like this.
  if (process.env.DEMO_KEYS === '1') {
    const customers = app.get(CustomersService);
    const keys = app.get(ApiKeysService);
    for (const tier of ['free', 'pro', 'enterprise']) {
      const overrides = tier === 'enterprise' ? { includedCalls: 1_000_000, rateLimit: ['1000/min'] } : {};
      const customer = await customers.create({ name: `Demo ${tier}`, tier, overrides });
      const { secret } = await keys.create(customer.id, { name: 'demo' });
      process.stdout.write(`${tier.padEnd(10)} curl -H 'x-api-key: ${secret}' http://localhost:${port}/v1/basic/weather\n`);
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`host app failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
