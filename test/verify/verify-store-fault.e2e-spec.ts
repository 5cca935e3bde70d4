import { RateLimitStorage } from '../../src/rate-limit/rate-limit.storage.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';

/** A rate-limit store that is not connected: every call is a fault, decided by the failure mode. */
const disconnected: RateLimitStorage = {
  remote: true,
  available: () => false,
  consume: () => Promise.reject(new Error('not connected')),
};

/** In `closed` mode a store fault refuses at both doors as the guards do: 503 rate_limiter_unavailable with Retry-After. */
describe('verify API when the rate-limit store faults (closed mode)', () => {
  let database: TestDatabase;
  let service: TestApp;
  let secret: string;
  let customerId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, {
      config: testConfig(database, { demo: true, rateLimitFailureMode: 'closed' }),
      overrides: [[RateLimitStorage, disconnected]],
    });
    ({ secret, customerId } = await new AdminClient(service.url).customerWithKey('free'));
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it('decides 503 rate_limiter_unavailable, like the guarded route, and counts nothing', async () => {
    const guarded = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret });
    expect(guarded.status).toBe(503);
    const decision = await call('POST', `${service.url}/v1/keys/verify`, { bearer: TEST_ADMIN_TOKEN, body: { key: secret, path: '/v1/basic/echo', method: 'GET' } });
    expect(decision.status).toBe(200);
    expect(decision.body).toMatchObject({ valid: false, code: guarded.body.error, status: 503, retryAfter: Number(guarded.headers.get('retry-after')) });
    expect(decision.body.headers['Retry-After']).toBe(guarded.headers.get('retry-after'));

    const door = await call('GET', `${service.url}/v1/keys/verify/auth-request`, {
      headers: { 'x-tollgate-verifier': TEST_ADMIN_TOKEN, 'x-api-key': secret, 'x-original-uri': '/v1/basic/echo' },
    });
    expect(door.status).toBe(503);
    expect(door.headers.get('retry-after')).toBe(guarded.headers.get('retry-after'));
    expect(door.headers.get('x-tollgate-code')).toBe('rate_limiter_unavailable');
    const [{ count }] = await database.query<{ count: number }>('SELECT count(*)::int AS count FROM usage_events WHERE customer_id = $1', [customerId]);
    expect(count).toBe(0);
  });
});
