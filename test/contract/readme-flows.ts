/**
 * The README's flows through a client generated from /docs/openapi.json (openapi-typescript + openapi-fetch).
 * Type-checked by test/contract/openapi.e2e-spec.ts against freshly generated types: a response the document
 * leaves untyped, or a request it types wrongly, is a compile error here (its own tsconfig: the generated file
 * exists only after that test ran). The same test runs it against a service, every answer checked.
 */
import createClient from 'openapi-fetch';
import type { paths } from './generated/tollgate-api.js';

export async function readmeFlows(baseUrl: string, adminToken: string, fetch: typeof globalThis.fetch = globalThis.fetch): Promise<string[]> {
  const admin = createClient<paths>({ baseUrl, fetch, headers: { authorization: `Bearer ${adminToken}` } });
  const seen: string[] = [];

  const catalog = await admin.GET('/v1/tiers');
  seen.push(...(catalog.data?.tiers ?? []).map((tier) => `${tier.name}:${typeof tier.includedCalls === 'number' ? tier.includedCalls : 'custom'}`));

  // Create a customer, then a key: the id the next commands need is `.key.id`, the secret is shown once.
  const created = await admin.POST('/v1/customers', { body: { name: 'Acme', tier: 'pro', email: 'ops@acme.test' } });
  if (!created.data) throw new Error(`create customer: ${created.response.status} ${created.error?.error}: ${created.error?.message}`);
  const customerId = created.data.id;
  const issued = await admin.POST('/v1/customers/{customerId}/keys', { params: { path: { customerId } }, body: { name: 'production', scopes: ['ingest'] } });
  if (!issued.data) throw new Error(`create key: ${issued.error?.error}`);
  const keyId: string = issued.data.key.id;
  const secret: string = issued.data.secret;

  // A metered route with the key (x-api-key, or Authorization: Bearer): quota and rate-limit headers come with it.
  const consumer = createClient<paths>({ baseUrl, fetch, headers: { 'x-api-key': secret } });
  const search = await consumer.GET('/v1/search', { params: { query: { q: 'hello' }, header: { 'Idempotency-Key': 'req-1' } } });
  if (search.data) seen.push(...search.data.results.map((result) => result.title));
  else if (search.error.error === 'tier_required') seen.push(`upgrade to ${search.error.requiredTier ?? '?'}`);
  else if (search.error.error === 'quota_exceeded' || search.error.error === 'rate_limit_exceeded') seen.push(`retry in ${search.error.retryAfter ?? 0} s`);
  seen.push(search.response.headers.get('X-Quota-Remaining') ?? 'no quota header');

  // Usage, as the operator and as the key holder.
  const usage = await admin.GET('/v1/customers/{customerId}/usage', { params: { path: { customerId }, query: { period: 'current' } } });
  for (const meter of usage.data?.meters ?? []) seen.push(`${meter.meter}: ${String(meter.total)} of ${meter.included ?? '∞'} (${meter.percentUsed ?? 0} %)`);
  const mine = await consumer.GET('/v1/me/usage');
  seen.push(mine.data?.period.end ?? '');
  const me = await consumer.GET('/v1/me');
  seen.push(`${me.data?.tier} ${me.data?.limits.rateLimits.map((policy) => `${policy.limit}/${policy.windowSeconds}s`).join(',')}`);

  // Usage from another service: the admin token, or a key with the `ingest` scope.
  const ingested = await consumer.POST('/v1/events', {
    body: { events: [{ customerId, meter: 'api_calls', quantity: 3, timestamp: new Date().toISOString(), idempotencyKey: 'job-42' }] },
  });
  for (const result of ingested.data?.results ?? []) seen.push(`${result.index}: ${result.status}${result.reason ? ` (${result.reason})` : ''}`);

  // Rotate with a grace period, revoke the old key, change the tier, list with filters.
  const rotated = await admin.POST('/v1/customers/{customerId}/keys/{keyId}/rotate', { params: { path: { customerId, keyId } }, body: { gracePeriodSeconds: 3600 } });
  if (rotated.data) seen.push(rotated.data.key.prefix);
  const revoked = await admin.DELETE('/v1/customers/{customerId}/keys/{keyId}', { params: { path: { customerId, keyId } } });
  seen.push(revoked.data?.status ?? revoked.error?.error ?? '');
  const updated = await admin.PATCH('/v1/customers/{customerId}', { params: { path: { customerId } }, body: { tier: 'enterprise', overrides: { includedCalls: 1_000_000, rateLimit: ['1000/min'] } } });
  seen.push(updated.data?.limits.onQuotaExceeded ?? '');
  const listed = await admin.GET('/v1/customers', { params: { query: { tier: 'enterprise', status: 'active', limit: 20 } } });
  seen.push(`${listed.data?.data.length ?? 0} listed, next ${listed.data?.nextCursor ?? 'none'}`);
  const keys = await consumer.GET('/v1/me/keys', { params: { query: { limit: 10 } } });
  seen.push(...(keys.data?.data ?? []).map((key) => `${key.name} ${key.status}`));

  // Per-key controls: the operator narrows a key (README: Per-key controls); verify answers its metadata and cap.
  const partner = await admin.POST('/v1/customers/{customerId}/keys', {
    params: { path: { customerId } },
    body: { name: 'partner', controls: { rateLimit: ['10/min'], usageCap: { remaining: 100, refill: { amount: 100, interval: 'month' } }, endpoints: ['/v1/search'], metadata: { partner: 'acme-eu' } } },
  });
  if (partner.data) {
    const patched = await admin.PATCH('/v1/customers/{customerId}/keys/{keyId}', {
      params: { path: { customerId, keyId: partner.data.key.id } },
      body: { controls: { ipAllowlist: ['203.0.113.0/24'], usageCap: { remaining: 50 } } },
    });
    seen.push(`locked ${patched.data?.lockedControls.join(',') ?? patched.error?.error}`);
    const decided = await admin.POST('/v1/keys/verify', { body: { key: partner.data.secret, path: '/v1/search', method: 'GET', meter: 'api_calls', record: true, ip: '203.0.113.7' } });
    seen.push(`verify ${decided.data?.code} ${JSON.stringify(decided.data?.metadata)} ${decided.data?.usageRemaining}`);
  }

  // Billing: subscribe (200 granted, 202 waiting for payment, 409 stripe_disabled without Stripe), sync, preview.
  const subscribed = await admin.POST('/v1/customers/{customerId}/subscription', { params: { path: { customerId } }, body: { tier: 'pro' } });
  if (subscribed.data) seen.push(`${subscribed.data.subscription.status} ${subscribed.data.subscription.latestInvoice?.hostedInvoiceUrl ?? ''}`);
  else if (subscribed.error.error === 'stripe_disabled') seen.push('Stripe is off');
  const sync = await admin.POST('/v1/billing/sync');
  seen.push(`${sync.data?.sent ?? 0} sent, dry run ${sync.data?.dryRun}`);
  const preview = await admin.GET('/v1/customers/{customerId}/invoice-preview', { params: { path: { customerId }, query: { at: new Date().toISOString() } } });
  seen.push(`${preview.data?.total ?? '?'} ${preview.data?.currency ?? ''}: ${(preview.data?.lines ?? []).map((line) => line.amount).join(' + ')}`);
  const reconciliation = await admin.GET('/v1/billing/reconciliation', { params: { query: { period: 'current' } } });
  seen.push(`${reconciliation.data?.driftDetected ?? 0} drifting`);
  const failed = await admin.GET('/v1/billing/pushes', { params: { query: { status: 'failed' } } });
  seen.push(...(failed.data?.data ?? []).map((push) => `${push.id} ${push.failureCode ?? ''}`));

  // Webhooks and notifications.
  const webhookSecret = await admin.POST('/v1/customers/{customerId}/webhook-secret', { params: { path: { customerId } } });
  seen.push(webhookSecret.data?.secret.slice(0, 6) ?? '');
  const notifications = await admin.GET('/v1/customers/{customerId}/notifications', { params: { path: { customerId } } });
  seen.push(...(notifications.data?.data ?? []).map((notification) => `${notification.kind}: ${notification.deliveries.map((delivery) => delivery.status).join(',')}`));
  return seen;
}
