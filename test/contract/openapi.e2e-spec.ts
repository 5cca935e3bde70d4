import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { OpenAPIObject } from '@nestjs/swagger';
import { checkResponse, registerService, serviceDocument, UNDOCUMENTED_ROUTES } from '../support/contract.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { checkedFetch, checkFetched } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';

const run = promisify(execFile);
const ROOT = process.cwd();
const bin = (name: string) => join(ROOT, 'node_modules/.bin', name);
const ARTIFACTS = join(ROOT, 'test-artifacts/contract');
const DOCUMENT = join(ARTIFACTS, 'openapi.json');
const GENERATED = join(ROOT, 'test/contract/generated/tollgate-api.d.ts');

/** The document clients are generated from: linted, complete, and good enough to type the README's flows. */
describe('the OpenAPI contract', () => {
  let document: OpenAPIObject;
  beforeAll(async () => {
    document = await serviceDocument();
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(DOCUMENT, JSON.stringify(document, null, 2));
  });

  const operations = () =>
    Object.entries(document.paths).flatMap(([path, item]) =>
      (['get', 'put', 'post', 'delete', 'patch'] as const).flatMap((method) => (item[method] ? [{ name: `${method.toUpperCase()} ${path}`, operation: item[method] }] : [])),
    );

  it('passes Redocly lint with the recommended ruleset (0 errors)', async () => {
    // Exits non-zero on any error; warnings (e.g. a localhost server URL) are allowed.
    const outcome = await run(bin('redocly'), ['lint', DOCUMENT, '--extends', 'recommended'], { env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } }).then(
      () => 'ok',
      (error: { stdout: string; stderr: string }) => `${error.stdout}\n${error.stderr}`,
    );
    expect(outcome).toBe('ok');
  });

  it('documents a summary, a typed success response and every error with the error schema on each operation', () => {
    const problems: string[] = [];
    for (const { name, operation } of operations()) {
      if (!operation.summary) problems.push(`${name}: no summary`);
      const entries = Object.entries(operation.responses).flatMap(([status, response]) => (response ? [[status, response] as const] : []));
      const success = entries.filter(([status]) => Number(status) < 300);
      if (success.length === 0) problems.push(`${name}: no success response`);
      // A 204 has no body (nginx's auth-request door): nothing to type.
      for (const [status, response] of success) if (status !== '204' && !('content' in response && response.content?.['application/json']?.schema)) problems.push(`${name} ${status}: no schema`);
      for (const [status, response] of entries.filter(([code]) => Number(code) >= 400)) {
        const schema = 'content' in response ? (response.content?.['application/json']?.schema as { allOf?: Array<{ $ref?: string }> } | undefined) : undefined;
        if (schema?.allOf?.[0]?.$ref !== '#/components/schemas/ApiErrorDto') problems.push(`${name} ${status}: not the error body`);
        if (!('headers' in response && response.headers?.['X-Request-Id'])) problems.push(`${name} ${status}: no X-Request-Id`);
      }
      if (operation.security === undefined) problems.push(`${name}: security not stated`);
    }
    expect(problems).toEqual([]);
    expect(operations().length).toBeGreaterThanOrEqual(36);
  });

  it('states how each caller authenticates', () => {
    const schemes = document.components?.securitySchemes ?? {};
    // An opaque token, not a JWT: no bearerFormat.
    expect(schemes.admin).toEqual({ type: 'http', scheme: 'bearer', description: expect.any(String) });
    expect(schemes['api-key']).toMatchObject({ type: 'apiKey', in: 'header', name: 'x-api-key' });
    expect(schemes['api-key-bearer']).toEqual({ type: 'http', scheme: 'bearer', description: expect.any(String) });
    expect(document.paths['/v1/events'].post?.security).toEqual(expect.arrayContaining([{ admin: [] }, { 'api-key': [] }, { 'api-key-bearer': [] }]));
    expect(document.paths['/v1/me'].get?.security).toEqual([{ 'api-key': [] }, { 'api-key-bearer': [] }]);
    expect(document.servers?.length).toBeGreaterThan(0);
  });

  it('generates a typed client (openapi-typescript) that type-checks the README flows (openapi-fetch)', async () => {
    mkdirSync(join(ROOT, 'test/contract/generated'), { recursive: true });
    await run(bin('openapi-typescript'), [DOCUMENT, '--output', GENERATED]);
    const check = await run(bin('tsc'), ['-p', join(ROOT, 'test/contract/tsconfig.json')]).then(
      () => '',
      (error: { stdout: string }) => error.stdout,
    );
    expect(check).toBe('');
  });
});

/** The check every e2e response goes through (test/support/http.ts `call`) refuses what the document does not say. */
describe('the response check', () => {
  const origin = 'http://127.0.0.1:9';
  registerService(origin);
  const json = (headers: Record<string, string> = {}) => new Headers({ 'content-type': 'application/json', 'x-request-id': 'r-1', ...headers });
  const tiers = async () => (await import('../../src/config/tier-catalog.js')).parseTierCatalog(readFileSync(join(ROOT, 'tiers.yaml'), 'utf8'));

  it('passes a documented answer', async () => {
    const { tiers: list, meters, upgradeUrl } = await tiers();
    await expect(checkResponse('GET', `${origin}/v1/tiers`, 200, json(), JSON.parse(JSON.stringify({ tiers: list, meters, upgradeUrl })))).resolves.toBeUndefined();
    await expect(checkResponse('GET', `${origin}/v1/me`, 401, json({ 'www-authenticate': 'Bearer realm="tollgate"' }), { error: 'invalid_api_key', message: 'Invalid API key.' })).resolves.toBeUndefined();
  });

  it('fails an undocumented status, code, field or a missing required header', async () => {
    const error = { error: 'invalid_api_key', message: 'Invalid API key.' };
    await expect(checkResponse('GET', `${origin}/v1/me`, 418, json(), error)).rejects.toThrow(/not a documented status/);
    await expect(checkResponse('GET', `${origin}/v1/me`, 401, json({ 'www-authenticate': 'Bearer' }), { ...error, error: 'nope' })).rejects.toThrow(/body does not match/);
    await expect(checkResponse('GET', `${origin}/v1/me`, 401, json(), error)).rejects.toThrow(/WWW-Authenticate is missing/);
    await expect(checkResponse('GET', `${origin}/v1/me/webhook-secret`, 404, json(), error)).rejects.toThrow(/not a documented status|no such operation/);
    const key = { id: 'key_1', customerId: 'cus_1', name: 'n', prefix: 'tg_live_ab', mode: 'live', scopes: [], status: 'active', createdAt: '2026-01-01T00:00:00.000Z', lastUsedAt: null, expiresAt: null, revokedAt: null, replacedBy: null, controls: { rateLimit: null, usageCap: null, ipAllowlist: null, endpoints: null, metadata: null }, lockedControls: [] };
    await expect(checkResponse('DELETE', `${origin}/v1/me/keys/key_1`, 200, json(), key)).resolves.toBeUndefined();
    await expect(checkResponse('DELETE', `${origin}/v1/me/keys/key_1`, 200, json(), { ...key, secret: 'tg_live_leaked' })).rejects.toThrow(/must NOT have additional properties/);
    await expect(checkResponse('DELETE', `${origin}/v1/me/keys/key_1`, 200, new Headers(), key)).rejects.toThrow(/X-Request-Id is missing/);
    await expect(checkResponse('GET', `${origin}/v1/nowhere`, 200, json(), {})).rejects.toThrow(/no such operation/);
  });

  it('checks a raw fetch response the caller has already read, as text or bytes', async () => {
    const error = { error: 'invalid_api_key', message: 'Invalid API key.' };
    const answer = (body: unknown) => new Response(JSON.stringify(body), { status: 401, headers: json({ 'www-authenticate': 'Bearer realm="tollgate"' }) });
    await expect(checkFetched(`${origin}/v1/me`, undefined, answer(error), JSON.stringify(error))).resolves.toBeUndefined();
    await expect(checkFetched(`${origin}/v1/me`, undefined, answer(error), new TextEncoder().encode(JSON.stringify({ ...error, error: 'nope' })).buffer)).rejects.toThrow(/body does not match/);
    await expect(checkFetched(`${origin}/v1/me`, { method: 'DELETE' }, answer(error), JSON.stringify(error))).rejects.toThrow(/no such operation/);
  });

  it('skips only the listed undocumented routes, and unknown routes answered 404 not_found', async () => {
    for (const path of ['/portal/api/overview', '/v1/stripe/webhooks', '/health/ready', '/metrics', '/docs/openapi.json']) {
      await expect(checkResponse('GET', `${origin}${path}`, 200, new Headers(), 'anything')).resolves.toBeUndefined();
    }
    await expect(checkResponse('GET', `${origin}/v1/nowhere`, 404, json(), { error: 'not_found', message: 'Cannot GET /v1/nowhere' })).resolves.toBeUndefined();
    expect(UNDOCUMENTED_ROUTES.every((route) => route.reason.length > 0)).toBe(true);
  });
});

/** The README's flows through the generated client, against a service (demo routes on, Stripe off). */
describe('the README flows', () => {
  let database: TestDatabase;
  let service: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database, { demo: true }) });
  });
  afterAll(async () => {
    await service?.close();
    await database?.dispose();
  });

  it('run through the typed client, every answer as documented', async () => {
    // openapi-fetch's requests go through the same check as `call`.
    // Imported by a computed path: the project's type-check must not follow it into the generated types (absent
    // until the test above wrote them); test/contract/tsconfig.json checks it.
    const flows = './readme-flows.js';
    const { readmeFlows } = (await import(flows)) as { readmeFlows: (url: string, token: string, fetch: typeof globalThis.fetch) => Promise<string[]> };
    // checkedFetch checks a clone: the caller still gets the whole body to read.
    const tiers = await checkedFetch(`${service.url}/v1/tiers`);
    expect(tiers.bodyUsed).toBe(false);
    expect(((await tiers.json()) as { tiers: unknown[] }).tiers.length).toBeGreaterThan(0);
    const seen = await readmeFlows(service.url, TEST_ADMIN_TOKEN, checkedFetch as typeof fetch);
    expect(seen).toEqual(
      expect.arrayContaining([
        'Result 1 for "hello"',
        '0: accepted',
        'revoked',
        'Stripe is off',
        '0 drifting',
        'locked rateLimit,usageCap,ipAllowlist,endpoints,metadata',
        'verify ok {"partner":"acme-eu"} 49',
      ]),
    );
  });
});
