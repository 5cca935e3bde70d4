import { jest } from '@jest/globals';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { TOLLGATE_CONNECTION } from '../../src/database/index.js';
import { PortalSessionsService } from '../../src/portal/portal-sessions.service.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { PortalClient } from '../support/portal.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { sleep } from '../support/wait.js';

/**
 * What a key holder may do with the keys of its account: never more than the operator gave its own key (scopes,
 * expiry), at most the configured number of active keys, and lists that come in pages.
 */
describe('API keys: grants, rotation, caps and pages', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  const me = (method: string, path: string, apiKey: string, body?: unknown) => call(method, `${service.url}${path}`, { apiKey, body });

  beforeAll(async () => {
    database = await createTestDatabase();
    // The product defaults (100 active keys per customer, pages of 50): nothing here is raised.
    service = await startTestApp(database, { config: testConfig(database, { demo: true }) });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  async function customerWithScopedKey(body: Record<string, unknown>) {
    const customer = await admin.createCustomer('pro', { email: `dev-${Math.random().toString(36).slice(2)}@grants.test` });
    const issued = await admin.createKey(customer.id, body);
    return { customerId: customer.id, email: customer.email as string, secret: issued.secret, key: issued.key };
  }

  async function emailSession(customerEmail: string): Promise<PortalClient> {
    const [link] = await service.app.get(PortalSessionsService).issueLoginLinks(customerEmail);
    return PortalClient.withEmailToken(service.url, link.token);
  }

  const ingest = (apiKey: string, idempotencyKey: string) =>
    call('POST', `${service.url}/v1/events`, { apiKey, body: { events: [{ meter: 'api_calls', quantity: 1, idempotencyKey }] } });

  describe('scopes', () => {
    it('refuses a key holder a scope its own key lacks: no key is made, /v1/events stays shut', async () => {
      const holder = await customerWithScopedKey({ name: 'app' });
      const escalated = await me('POST', '/v1/me/keys', holder.secret, { name: 'sneaky', scopes: ['ingest'] });
      expect(escalated.status).toBe(403);
      expect(escalated.body).toMatchObject({ error: 'scope_not_held', scopes: ['ingest'] });
      expect((await me('GET', '/v1/me/keys', holder.secret)).body.data).toHaveLength(1);
      expect((await ingest(holder.secret, 'self-report')).status).toBe(403);
    });

    it('lets a key holder give a new key some of its own scopes; the operator grants any', async () => {
      const holder = await customerWithScopedKey({ scopes: ['ingest', 'reports:read'] });
      const subset = await me('POST', '/v1/me/keys', holder.secret, { name: 'reporter', scopes: ['ingest'] });
      expect(subset.status).toBe(201);
      expect(subset.body.key.scopes).toEqual(['ingest']);
      expect((await ingest(subset.body.secret, 'from-subset')).status).toBe(200);

      const none = await me('POST', '/v1/me/keys', holder.secret, { name: 'plain' });
      expect(none.body.key.scopes).toEqual([]);

      const beyond = await me('POST', '/v1/me/keys', holder.secret, { scopes: ['ingest', 'billing:write'] });
      expect(beyond.status).toBe(403);
      expect(beyond.body).toMatchObject({ error: 'scope_not_held', scopes: ['billing:write'] });

      const granted = await admin.createKey(holder.customerId, { scopes: ['billing:write'] });
      expect(granted.key.scopes).toEqual(['billing:write']);
    });

    it('in the portal: a key session grants at most its key scopes, an email-link session none', async () => {
      const holder = await customerWithScopedKey({ scopes: ['ingest'] });
      const plain = await admin.createKey(holder.customerId, { name: 'plain' });

      const withScopedKey = await PortalClient.withKey(service.url, holder.secret);
      const allowed = await withScopedKey.request('POST', '/keys', { name: 'portal-ingest', scopes: ['ingest'] });
      expect(allowed.status).toBe(201);
      expect(allowed.body.key.scopes).toEqual(['ingest']);

      const withPlainKey = await PortalClient.withKey(service.url, plain.secret);
      const refused = await withPlainKey.request('POST', '/keys', { scopes: ['ingest'] });
      expect(refused.status).toBe(403);
      expect(refused.body.error).toBe('scope_not_held');

      const byEmail = await emailSession(holder.email);
      expect((await byEmail.request('POST', '/keys', { scopes: ['ingest'] })).status).toBe(403);
      const unscoped = await byEmail.request('POST', '/keys', { name: 'from-email' });
      expect(unscoped.status).toBe(201);
      expect(unscoped.body.key.scopes).toEqual([]);
    });

    it('refuses a key holder the rotation of a key with scopes it does not hold (the new secret would carry them)', async () => {
      const customer = await customerWithScopedKey({ name: 'ingest-bot', scopes: ['ingest'] });
      const plain = await admin.createKey(customer.customerId, { name: 'plain' });

      const viaMe = await me('POST', `/v1/me/keys/${customer.key.id}/rotate`, plain.secret, {});
      expect(viaMe.status).toBe(403);
      expect(viaMe.body.error).toBe('scope_not_held');
      const viaEmail = await (await emailSession(customer.email)).request('POST', `/keys/${customer.key.id}/rotate`, {});
      expect(viaEmail.status).toBe(403);
      // Nothing happened to the key.
      expect((await admin.request('GET', `/v1/customers/${customer.customerId}/keys/${customer.key.id}`)).body).toMatchObject({ expiresAt: null, replacedBy: null });

      const viaHolder = await me('POST', `/v1/me/keys/${customer.key.id}/rotate`, customer.secret, {});
      expect(viaHolder.status).toBe(201);
      expect(viaHolder.body.key.scopes).toEqual(['ingest']);
    });
  });

  describe('expiry', () => {
    it('gives a key made by an expiring key no later expiry than its maker', async () => {
      const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
      const holder = await customerWithScopedKey({ expiresAt });
      const inherited = await me('POST', '/v1/me/keys', holder.secret, { name: 'child' });
      expect(inherited.status).toBe(201);
      expect(inherited.body.key.expiresAt).toBe(expiresAt);

      const sooner = new Date(Date.now() + 600_000).toISOString();
      expect((await me('POST', '/v1/me/keys', holder.secret, { expiresAt: sooner })).body.key.expiresAt).toBe(sooner);

      const later = await me('POST', '/v1/me/keys', holder.secret, { expiresAt: new Date(Date.now() + 7_200_000).toISOString() });
      expect(later.status).toBe(403);
      expect(later.body.error).toBe('expiry_not_held');

      // In the portal, a session opened with that key inherits its expiry too.
      const portal = await PortalClient.withKey(service.url, holder.secret);
      expect((await portal.request('POST', '/keys', { name: 'portal-child' })).body.key.expiresAt).toBe(expiresAt);
    });

    it('lets a portal session whose key has expired grant nothing more', async () => {
      const holder = await customerWithScopedKey({ expiresAt: new Date(Date.now() + 700).toISOString() });
      const portal = await PortalClient.withKey(service.url, holder.secret);
      await sleep(800);
      const late = await portal.request('POST', '/keys', { name: 'after-expiry' });
      expect(late.status).toBe(403);
      expect(late.body.error).toBe('session_key_inactive');
    });
  });

  describe('rotation', () => {
    const kept = (view: Record<string, unknown>) => ({ name: view.name, mode: view.mode, scopes: view.scopes, expiresAt: view.expiresAt });

    it('keeps name, mode, scopes and expiry: through the admin API, /v1/me and the portal', async () => {
      const expiresAt = new Date(Date.now() + 2 * 86_400_000).toISOString();
      const original = await customerWithScopedKey({ name: 'ci', mode: 'test', scopes: ['ingest'], expiresAt });
      const expected = { name: 'ci', mode: 'test', scopes: ['ingest'], expiresAt };
      expect(kept(original.key)).toEqual(expected);

      const byAdmin = await admin.request('POST', `/v1/customers/${original.customerId}/keys/${original.key.id}/rotate`, { gracePeriodSeconds: 60 });
      expect(byAdmin.status).toBe(201);
      expect(kept(byAdmin.body.key)).toEqual(expected);
      expect(byAdmin.body.secret).toMatch(/^tg_test_/);

      const byMe = await me('POST', `/v1/me/keys/${byAdmin.body.key.id}/rotate`, byAdmin.body.secret, { gracePeriodSeconds: 60 });
      expect(byMe.status).toBe(201);
      expect(kept(byMe.body.key)).toEqual(expected);

      const portal = await PortalClient.withKey(service.url, byMe.body.secret);
      const byPortal = await portal.request('POST', `/keys/${byMe.body.key.id}/rotate`, { gracePeriodSeconds: 60 });
      expect(byPortal.status).toBe(200);
      expect(kept(byPortal.body.key)).toEqual(expected);
      // The last secret works, and still cannot outlive the expiry the operator set.
      expect((await ingest(byPortal.body.secret, 'after-rotations')).status).toBe(200);
    });

    it('does not bring an expired key back to life, nor rotate a key twice', async () => {
      const customer = await admin.createCustomer('pro');
      const short = await admin.createKey(customer.id, { expiresAt: new Date(Date.now() + 400).toISOString() });
      await sleep(500);
      const revived = await admin.request('POST', `/v1/customers/${customer.id}/keys/${short.key.id}/rotate`, {});
      expect(revived.status).toBe(400);
      expect(revived.body.error).toBe('key_expired');

      const key = await admin.createKey(customer.id);
      const first = await admin.request('POST', `/v1/customers/${customer.id}/keys/${key.key.id}/rotate`, {});
      expect(first.status).toBe(201);
      const second = await admin.request('POST', `/v1/customers/${customer.id}/keys/${key.key.id}/rotate`, {});
      expect(second.status).toBe(409);
      expect(second.body).toMatchObject({ error: 'key_already_rotated', replacedBy: first.body.key.id });
      // Two rotations at once make one new key.
      const other = await admin.createKey(customer.id);
      const racing = await Promise.all([1, 2, 3].map(() => admin.request('POST', `/v1/customers/${customer.id}/keys/${other.key.id}/rotate`, {})));
      expect(racing.map((response) => response.status).sort()).toEqual([201, 409, 409]);
    });
  });

  describe('cap on active keys', () => {
    it('stops a burst of key creation at 100 active keys (default), exactly, with a clear error', async () => {
      const holder = await customerWithScopedKey({ name: 'first' });
      // The burst waits in memory for its turn, not in the database lock with a pool connection each: one tenant's
      // burst must not take every connection (the rest of its requests, and other tenants', would time out: 503).
      const manager = service.app.get<DataSource>(getDataSourceToken(TOLLGATE_CONNECTION)).manager;
      let open = 0;
      let mostOpen = 0;
      const transaction = manager.transaction.bind(manager) as (work: (inner: unknown) => Promise<unknown>) => Promise<unknown>;
      const watch = jest.spyOn(manager, 'transaction').mockImplementation((async (work: (inner: unknown) => Promise<unknown>) => {
        mostOpen = Math.max(mostOpen, ++open);
        try {
          return await transaction(work);
        } finally {
          open--;
        }
      }) as never);
      // Through the admin API: /v1/me has its own rate limit (60/min), which would stop this burst first.
      const burst = await Promise.all(
        Array.from({ length: 150 }, (_, i) => admin.request('POST', `/v1/customers/${holder.customerId}/keys`, { name: `burst-${i}` })),
      ).finally(() => watch.mockRestore());
      expect(mostOpen).toBe(1);
      const statuses = burst.map((response) => response.status);
      expect(burst.filter((response) => response.status !== 201 && response.status !== 409).map((response) => JSON.stringify(response.body))).toEqual([]);
      expect(statuses.filter((status) => status === 201)).toHaveLength(99);
      expect(statuses.filter((status) => status === 409)).toHaveLength(51);
      expect(burst.find((response) => response.status === 409)!.body).toMatchObject({ error: 'key_limit_reached', limit: 100 });
      const [{ count }] = await database.query<{ count: number }>(
        'SELECT count(*)::int AS count FROM api_keys WHERE customer_id = $1 AND revoked_at IS NULL',
        [holder.customerId],
      );
      expect(count).toBe(100);

      // The operator is held to it too; rotating replaces a key, so it still works at the cap.
      expect((await admin.request('POST', `/v1/customers/${holder.customerId}/keys`, {})).status).toBe(409);
      const rotated = await me('POST', `/v1/me/keys/${holder.key.id}/rotate`, holder.secret, {});
      expect(rotated.status).toBe(201);
      // Revoking one frees a place.
      const victim = burst.find((response) => response.status === 201)!.body.key.id as string;
      expect((await me('DELETE', `/v1/me/keys/${victim}`, rotated.body.secret)).status).toBe(200);
      expect((await admin.request('POST', `/v1/customers/${holder.customerId}/keys`, {})).status).toBe(201);
      expect((await admin.request('POST', `/v1/customers/${holder.customerId}/keys`, {})).status).toBe(409);
    });
  });

  describe('pagination', () => {
    async function walk(fetchPage: (query: string) => Promise<{ status: number; body: { data: Array<{ id: string }>; nextCursor: string | null } }>) {
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const response = await fetchPage(`?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        expect(response.status).toBe(200);
        pages.push(response.body.data.map((key) => key.id));
        cursor = response.body.nextCursor;
      } while (cursor && pages.length < 10);
      return pages;
    }

    it('pages every key list with limit + cursor, newest first, each key once', async () => {
      const holder = await customerWithScopedKey({ name: 'k0' });
      const ids = [holder.key.id];
      for (let i = 1; i < 7; i++) ids.push((await admin.createKey(holder.customerId, { name: `k${i}` })).key.id);
      const newestFirst = [...ids].reverse();
      const portal = await PortalClient.withKey(service.url, holder.secret);

      for (const fetchPage of [
        (query: string) => admin.request('GET', `/v1/customers/${holder.customerId}/keys${query}`),
        (query: string) => me('GET', `/v1/me/keys${query}`, holder.secret),
        (query: string) => portal.request('GET', `/keys${query}`),
      ]) {
        const pages = await walk(fetchPage);
        expect(pages.map((page) => page.length)).toEqual([3, 3, 1]);
        expect(pages.flat()).toEqual(newestFirst);
      }
    });

    it('answers 50 keys by default, at most 200, and refuses a bad limit or cursor', async () => {
      const customer = await admin.createCustomer('pro');
      for (let i = 0; i < 55; i++) await admin.createKey(customer.id, { name: `bulk-${i}` });
      const first = await admin.request('GET', `/v1/customers/${customer.id}/keys`);
      expect(first.body.data).toHaveLength(50);
      expect(first.body.nextCursor).toBe(first.body.data[49].id);
      const rest = await admin.request('GET', `/v1/customers/${customer.id}/keys?cursor=${first.body.nextCursor}`);
      expect(rest.body.data).toHaveLength(5);
      expect(rest.body.nextCursor).toBeNull();

      for (const query of ['limit=0', 'limit=201', 'limit=abc', 'cursor=key_doesNotExist']) {
        const response = await admin.request('GET', `/v1/customers/${customer.id}/keys?${query}`);
        expect([query, response.status, response.body.error]).toEqual([query, 400, 'validation_failed']);
      }
    });
  });
});
