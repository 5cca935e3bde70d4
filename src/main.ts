import 'reflect-metadata';
import { createApp, listen } from './bootstrap.js';
import { ConfigErrors, configFromEnvironment } from './config/index.js';
import type { TollgateConfig } from './config/index.js';
import { DemoSeeder } from './demo/index.js';

function loadConfig(): TollgateConfig {
  try {
    return configFromEnvironment(process.env);
  } catch (error) {
    if (error instanceof ConfigErrors) {
      process.stderr.write(`Tollgate cannot start: invalid configuration\n${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await createApp({ config });
  await listen(app, config.port, '0.0.0.0');
  const base = config.publicUrl ?? `http://localhost:${config.port}`;
  const lines = [
    '',
    `Tollgate is running (${config.embedded ? `embedded database in ${config.dataDir}` : 'PostgreSQL'}, ${config.redisUrl ? 'Redis' : 'in-memory stores'}, Stripe ${config.stripe.secretKey ? 'on' : 'dry run'})`,
    `  API        ${base}/v1/tiers`,
    `  API docs   ${base}/docs`,
    `  portal     ${base}/portal`,
    `  console    ${base}/console (sign in with the admin token)`,
    `  health     ${base}/health/ready`,
    `  metrics    ${base}/metrics`,
  ];
  if (config.adminTokenGenerated && config.demo) lines.push(`  admin token (this run only; set ADMIN_TOKEN to fix it): ${config.adminToken}`);
  if (config.demo && config.embedded) {
    // Demo keys are printed here, once, in embedded demo mode only; they never go through the logger.
    lines.push('', 'Demo keys (new at every start; try them):');
    for (const key of app.get(DemoSeeder).keys) {
      const path = { free: '/v1/basic/echo?message=hi', pro: '/v1/search?q=tollgate', enterprise: '/v1/admin/stats' }[key.tier] ?? '/v1/me';
      // The URL quoted: an unquoted `?` is a glob in zsh ("no matches found").
      lines.push(`  ${key.tier.padEnd(10)} curl -H 'x-api-key: ${key.secret}' '${base}${path}'`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`Tollgate failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
