import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, type CallResult } from '../support/http.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { RateLimitProbeModule } from './rate-limit-probe.module.js';

// The product defaults: per customer on /v1/me and /portal/api, per client address on portal sign-in.
const { meRateLimit: ME, portalRateLimit: PORTAL, portalSignInRateLimit: SIGN_IN } = new TollgateConfig();

const count = (responses: CallResult[], status: number) => responses.filter((response) => response.status === status).length;

/**
 * Sends `total` requests at once. A policy "N per W" admits a burst of N and gives a unit back every W/N while
 * the burst is answered: exactly that many get through (the burst takes seconds on embedded PGlite).
 */
async function burst(total: number, policy: { limit: number; windowSeconds: number }, send: (i: number) => Promise<CallResult>) {
  const started = performance.now();
  const responses = await Promise.all(Array.from({ length: total }, (_, i) => send(i)));
  const refilled = Math.floor((performance.now() - started) / ((policy.windowSeconds * 1000) / policy.limit));
  const admitted = responses.filter((response) => response.status !== 429).length;
  expect(admitted).toBeGreaterThanOrEqual(policy.limit);
  expect(admitted).toBeLessThanOrEqual(policy.limit + refilled);
  expect(count(responses, 429)).toBe(total - admitted);
  expect(admitted).toBeLessThan(total);
  return responses;
}

/** A refusal like every other rate-limit refusal: 429 body, and headers that all name the same wait. */
function expectRefusal(response: CallResult, policy: { limit: number; windowSeconds: number }) {
  expect(response.status).toBe(429);
  expect(response.body).toMatchObject({ error: 'rate_limit_exceeded', limit: policy.limit, windowSeconds: policy.windowSeconds });
  const wait = String(response.body.retryAfter);
  expect(Number(wait)).toBeGreaterThanOrEqual(1);
  expect(response.headers.get('retry-after')).toBe(wait);
  expect(response.headers.get('x-ratelimit-reset')).toBe(wait);
  expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
}

describe(`account routes have their own rate limits (${process.env.REDIS_URL ? 'Redis' : 'in-memory store'})`, () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  // Express trusts X-Forwarded-For from loopback ('trust proxy': 'loopback'): each test signs in from its own addresses.
  let nextAddress = 1;
  const freshAddress = () => `198.51.100.${nextAddress++}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { imports: [RateLimitProbeModule] });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  const signIn = (apiKey: string, address: string) =>
    call('POST', `${service.url}/portal/api/login`, { body: { apiKey }, headers: { 'x-forwarded-for': address } });

  async function portalSession(apiKey: string): Promise<Record<string, string>> {
    const response = await signIn(apiKey, freshAddress());
    expect(response.status).toBe(200);
    const cookie = /^(tg_portal_session=[^;]+)/.exec(response.headers.get('set-cookie')!)![1];
    return { cookie };
  }

  it(`/v1/me: ${ME.limit} per ${ME.windowSeconds} s per customer, apart from its API budget and from other customers`, async () => {
    const a = await admin.customerWithKey('free');
    const b = await admin.customerWithKey('free');
    const second = await admin.createKey(a.customerId);
    // All of A's keys share one budget, across routes.
    const responses = await burst(ME.limit * 2, ME, (i) => call('GET', `${service.url}/v1/me${i % 3 ? '' : '/keys'}`, { apiKey: i % 2 ? a.secret : second.secret }));
    expect(responses.filter((response) => response.status !== 429).every((response) => response.status === 200)).toBe(true);
    expectRefusal(responses.find((response) => response.status === 429)!, ME);
    expect(responses.find((response) => response.status === 200)!.headers.get('ratelimit-policy')).toBe(`"me";q=${ME.limit};w=${ME.windowSeconds}`);

    // Another customer, and A's own API budget (the tier's 10/min), are untouched.
    const other = await call('GET', `${service.url}/v1/me`, { apiKey: b.secret });
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-remaining')).toBe(String(ME.limit - 1));
    const api = await call('GET', `${service.url}/v1/basic/rl`, { apiKey: a.secret });
    expect(api.status).toBe(200);
    expect(api.headers.get('x-ratelimit-remaining')).toBe('9');
  });

  it(`/portal/api: ${PORTAL.limit} per ${PORTAL.windowSeconds} s per customer, across its sessions`, async () => {
    const a = await admin.customerWithKey('free');
    const b = await admin.customerWithKey('free');
    const [first, second, other] = await Promise.all([portalSession(a.secret), portalSession(a.secret), portalSession(b.secret)]);
    const responses = await burst(PORTAL.limit * 2, PORTAL, (i) =>
      call('GET', `${service.url}/portal/api/${i % 2 ? 'session' : 'keys'}`, { headers: i % 3 ? first : second }),
    );
    expect(responses.filter((response) => response.status !== 429).every((response) => response.status === 200)).toBe(true);
    expectRefusal(responses.find((response) => response.status === 429)!, PORTAL);
    expect((await call('GET', `${service.url}/portal/api/session`, { headers: other })).status).toBe(200);
  });

  it(`portal sign-in: ${SIGN_IN.limit} per ${SIGN_IN.windowSeconds} s per client address, whatever the outcome or method`, async () => {
    const { secret } = await admin.customerWithKey('free');
    const attacker = '203.0.113.7';
    const guesses = await burst(SIGN_IN.limit + 5, SIGN_IN, (i) => signIn(`tg_live_${String(i).padStart(43, 'x')}`, attacker));
    // The first ones get their answer (wrong key); the rest never reach the key lookup.
    expect(guesses.filter((response) => response.status !== 429).every((response) => response.status === 401)).toBe(true);
    expectRefusal(guesses.find((response) => response.status === 429)!, SIGN_IN);

    // From that address even a right key, an email link request or a link redemption waits.
    expect((await signIn(secret, attacker)).status).toBe(429);
    const link = await call('POST', `${service.url}/portal/api/login/email`, { body: { email: 'someone@example.test' }, headers: { 'x-forwarded-for': attacker } });
    expect(link.status).toBe(429);
    const redeem = await call('POST', `${service.url}/portal/api/login/email/complete`, { body: { token: 'x'.repeat(43) }, headers: { 'x-forwarded-for': attacker } });
    expect(redeem.status).toBe(429);

    // Another address is not affected.
    expect((await signIn(secret, '203.0.113.8')).status).toBe(200);
  });

  it('portal sign-in: an IPv6 /64 is one client', async () => {
    const { secret } = await admin.customerWithKey('free');
    const spread = await burst(SIGN_IN.limit + 5, SIGN_IN, (i) => signIn(secret, `2001:db8:0:1::${(i + 1).toString(16)}`));
    expect(spread.filter((response) => response.status !== 429).every((response) => response.status === 200)).toBe(true);
    expect((await signIn(secret, '2001:db8:0:2::1')).status).toBe(200);
  });
});
