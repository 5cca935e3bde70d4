// A service that is not Nest using Tollgate through `tollgate/client` (the global fetch; no Nest, no other package).
// Run the service (`npm start` prints its admin token), then in another terminal:
//   npm run build && TOLLGATE_URL=http://localhost:3000 ADMIN_TOKEN=<the printed token> node dist/examples/client/main.js
import { createTollgateClient, TollgateApiError } from 'tollgate/client';

const baseUrl = process.env.TOLLGATE_URL ?? 'http://localhost:3000';
const adminToken = process.env.ADMIN_TOKEN;
if (!adminToken) {
  process.stderr.write('Set ADMIN_TOKEN to the admin token `npm start` printed (or your ADMIN_TOKEN).\n');
  process.exit(2);
}

const tollgate = createTollgateClient({
  baseUrl,
  adminToken,
  // 429 and 503 are retried after their Retry-After (at most 10 s here), network errors with a backoff: only for
  // requests safe to repeat (GET, ingest, verify with an idempotencyKey…); never a POST that would act twice.
  retries: { max: 3, maxDelayMs: 10_000 },
  onRetry: ({ attempt, delayMs, error }) => console.log(`  (attempt ${attempt} failed: ${error instanceof TollgateApiError ? error.code : String(error)}; retrying in ${delayMs} ms)`),
});

async function main(): Promise<void> {
  // 1. Provision a customer and a key; the secret is shown once: hand it to your customer.
  const customer = await tollgate.customers.create({ name: 'Acme (client example)', tier: 'pro' });
  const { key, secret } = await tollgate.keys.create(customer.id, { name: 'production' });
  console.log(`customer ${customer.id} on ${customer.tier}, key ${key.prefix}…`);

  // 2. Before serving a request, ask. A refusal is a decision (valid: false), not an exception.
  const decision = await tollgate.verify({ key: secret, path: '/v1/reports', method: 'GET', idempotencyKey: `req-${key.id}-1` });
  console.log(decision.valid ? `verify: serve it (quota left ${decision.headers['X-Quota-Remaining']})` : `verify: refuse it, ${decision.status} ${decision.code}`);
  const stranger = await tollgate.verify({ key: 'tg_live_unknown', path: '/v1/reports', method: 'GET', record: false });
  console.log(`verify an unknown key: ${stranger.valid ? 'serve it' : `refuse it, ${stranger.status} ${stranger.code}`}`);

  // 3. Report usage measured elsewhere (a batch job): the idempotencyKey makes a retry, or a re-run, count once.
  const ingested = await tollgate.ingest([{ customerId: customer.id, meter: 'api_calls', quantity: 25, idempotencyKey: `nightly-export-${customer.id}` }]);
  console.log(`ingest: ${ingested.accepted} accepted, ${ingested.duplicates} duplicate(s)`);

  // 4. Usage this period, per meter.
  const usage = await tollgate.usage(customer.id, { period: 'current' });
  for (const meter of usage.meters) console.log(`usage: ${meter.meter} ${String(meter.total)} of ${meter.included ?? 'unlimited'}`);

  // 5. Every documented route, typed by the OpenAPI document: request(method, path, { params, body }).
  const { data: catalog } = await tollgate.request('GET', '/v1/tiers');
  console.log(`tiers: ${catalog.tiers.map((tier) => tier.name).join(', ')}`);

  // 6. A non-2xx answer is a TollgateApiError: status, code (the body's `error`), message, headers, body.
  try {
    await tollgate.customers.get('cus_does_not_exist');
  } catch (error) {
    if (!(error instanceof TollgateApiError)) throw error;
    console.log(`error: ${error.status} ${error.code}: ${error.message}`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`client example failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
