import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, checkedFetch } from '../support/http.js';
import { startTestApp, TEST_ADMIN_TOKEN, testConfig, type TestApp } from '../support/test-app.js';

// Browser-side callbacks (page.evaluate) run in Chromium; the project's TypeScript has no DOM library.
declare const document: any;
declare const getComputedStyle: any;
declare const localStorage: any;
declare const sessionStorage: any;

const TIMEOUT = 60_000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/console/', import.meta.url));
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

const figure = (page: Page, name: string) => page.locator(`[data-figure="${name}"]`);

describe('operator console (headless Chromium)', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  let browser: Browser;
  let desktop: BrowserContext;
  let page: Page;
  let acme: { id: string; secret: string; keyId: string };
  let refusals = 0;
  let failedPushId: string;
  let globex: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: run scripts/ensure-test-tools.sh (or set CHROMIUM_PATH).`);
    mkdirSync(ARTIFACTS, { recursive: true });
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database, { demo: true, stripe: { secretKey: null, apiUrl: null, webhookSecret: `whsec_${'c'.repeat(32)}` } }) });
    admin = new AdminClient(service.url);

    const created = await admin.createCustomer('free', { name: 'Acme Robotics', email: 'ops@acme.test' });
    const { secret, key } = await admin.createKey(created.id, { name: 'production' });
    acme = { id: created.id, secret, keyId: key.id };
    globex = (await admin.createCustomer('pro', { name: 'Globex', email: 'billing@globex.test' })).id;
    // Free tier: 10 requests a minute. Twelve calls: ten metered, the rest refused with 429.
    for (let i = 0; i < 12; i++) {
      const response = await call('GET', `${service.url}/v1/basic/echo?message=${i}`, { apiKey: secret });
      if (response.status === 429) refusals++;
    }
    expect(refusals).toBeGreaterThan(0);
    // A push Stripe refused: the outbox state the Billing page's retry acts on (the sync path itself is tested in test/billing).
    const now = new Date();
    const periodStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const periodEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    const [push] = await database.query<{ id: string }>(
      `INSERT INTO stripe_pushes (identifier, customer_id, stripe_customer_id, meter, event_name, period_start, period_end, from_total, to_total, delta,
                                  event_timestamp, status, last_error, failure_code)
       VALUES ($1, $2, 'cus_missing', 'api_calls', 'api_calls', $3, $4, 0, 10, 10, $5, 'failed', 'No such customer', 'meter_event_customer_not_found') RETURNING id::text`,
      [`console-test/${acme.id}`, acme.id, periodStart.toISOString(), periodEnd.toISOString(), now.toISOString()],
    );
    failedPushId = push.id;
    // A webhook delivery this service refuses (here: a forged signature) is one the operator must hear about.
    const forged = await call('POST', `${service.url}/v1/stripe/webhooks`, { headers: { 'stripe-signature': 't=1,v1=forged' }, body: { id: 'evt_forged', type: 'invoice.paid' } });
    expect(forged.status).toBe(400);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    desktop = await browser.newContext(DESKTOP);
    page = await desktop.newPage();
    // A CSP violation or a script error shows up as a console error: none is allowed.
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404)/.test(message.text())) pageErrors.push(message.text());
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    await database?.dispose();
  }, TIMEOUT);

  async function signIn(target: Page): Promise<void> {
    await target.goto(`${service.url}/console/`);
    await target.locator('#admin-token').fill(TEST_ADMIN_TOKEN);
    await target.getByRole('button', { name: 'Sign in', exact: true }).click();
    await figure(target, 'mrr').waitFor({ state: 'visible' });
  }

  async function screenshot(target: Page, name: string): Promise<void> {
    await target.evaluate(() => (globalThis as any).scrollTo(0, 0));
    await target.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  }

  it('serves the page and its assets itself, under a strict content security policy', async () => {
    const html = await checkedFetch(`${service.url}/console`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(html.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(html.headers.get('x-frame-options')).toBe('DENY');
    const assets = [...(await html.text()).matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]).filter((url) => !url.startsWith('#'));
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const asset of assets) {
      expect(asset.startsWith('/console/assets/')).toBe(true);
      expect((await checkedFetch(`${service.url}${asset}`)).status).toBe(200);
    }
    expect((await checkedFetch(`${service.url}/console/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
  }, TIMEOUT);

  it('exchanges the admin token for an HttpOnly, SameSite=Strict cookie and keeps the token nowhere in the page', async () => {
    await page.goto(`${service.url}/console/`);
    await page.locator('#admin-token').fill('not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#sign-in-error').filter({ hasText: 'not the admin token' }).waitFor();
    await screenshot(page, 'desktop-sign-in');

    await signIn(page);
    const cookie = (await desktop.cookies(`${service.url}/console/`)).find((candidate) => candidate.name === 'tg_console_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [row] = await database.query<{ token_hash: string }>('SELECT token_hash FROM console_sessions');
    expect(row.token_hash).toBe(createHash('sha256').update(cookie!.value).digest('hex'));
    const stored = await page.evaluate(() => JSON.stringify({ html: document.documentElement.outerHTML, local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie }));
    expect(stored).not.toContain(TEST_ADMIN_TOKEN);
    expect(stored).not.toContain(cookie!.value);
    expect(await page.locator('#admin-token').inputValue()).toBe('');
  }, TIMEOUT);

  it('shows the overview from the same services as the admin API: MRR, customers by tier, usage, 429s, attention', async () => {
    const customers = (await admin.request('GET', '/v1/customers?limit=200')).body.data as Array<{ tier: string; status: string; overrides: { price?: string } }>;
    const active = customers.filter((customer) => customer.status === 'active');
    // Seed tiers: free $0, pro $49/month, enterprise its override price.
    const mrrCents = active.reduce((sum, customer) => sum + (customer.tier === 'pro' ? 4900 : customer.tier === 'enterprise' ? Math.round(Number(customer.overrides.price ?? 0) * 100) : 0), 0);
    const expectedMrr = `$${Math.floor(mrrCents / 100)}.${String(mrrCents % 100).padStart(2, '0')}`;
    await page.goto(`${service.url}/console/#overview`);
    await figure(page, 'mrr').waitFor();
    expect(await figure(page, 'mrr').textContent()).toBe(expectedMrr);
    expect(await figure(page, 'active').textContent()).toContain(String(active.length));
    expect(await figure(page, 'active').textContent()).toContain(`pro: ${active.filter((customer) => customer.tier === 'pro').length}`);
    // The usage tile sums today's counters over every customer: at least Acme's ten metered calls.
    const usage = (await admin.request('GET', `/v1/customers/${acme.id}/usage`)).body;
    const today = new Date().toISOString().slice(0, 10);
    const acmeToday = usage.daily.filter((row: { date: string }) => row.date === today).reduce((sum: number, row: { quantity: number }) => sum + row.quantity, 0);
    expect(acmeToday).toBe(10);
    expect(Number((await figure(page, 'usage').textContent())!.match(/^[\d,]+/)![0].replace(/,/g, ''))).toBeGreaterThanOrEqual(10);
    expect((await figure(page, 'refusals').textContent())!.startsWith(String(refusals))).toBe(true);
    // Overage so far and at the period's run rate, both from the billing service's invoice previews.
    const amount = (text: string | null, pattern: RegExp) => Number(text!.match(pattern)![1]);
    const accrued = amount(await figure(page, 'overage').textContent(), /^\$(\d+\.\d\d)/);
    const projected = amount(await figure(page, 'overage-projected').textContent(), /^projected \$(\d+\.\d\d) by period end$/);
    expect(projected).toBeGreaterThanOrEqual(accrued);
    const failed = page.locator('[data-kind="failed_push"]');
    expect(await failed.count()).toBe(1);
    expect(await failed.textContent()).toContain(acme.id);
    expect(await page.locator('[data-kind="webhook_error"]').textContent()).toContain('invalid_signature');
    await screenshot(page, 'desktop-overview');
  }, TIMEOUT);

  it('finds a customer by email, charts its usage per day, and rotates a key whose new secret works', async () => {
    await page.goto(`${service.url}/console/#customers`);
    await page.locator('#q').fill('ops@acme');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('link', { name: 'Acme Robotics' }).waitFor();
    expect(await page.locator('tbody tr').count()).toBe(1);
    // Filters: by tier, sorted by % of quota (the same percentUsed as the usage API).
    await page.locator('#q').fill('');
    await page.locator('#tier').fill('free');
    await page.locator('#sort').selectOption('percent');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('tbody tr').first().filter({ hasText: 'Acme Robotics' }).waitFor();
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const acmePercent = (await admin.request('GET', `/v1/customers/${acme.id}/usage`)).body.meters[0].percentUsed;
    expect(rows[0]).toContain(`${acmePercent}%`);
    await screenshot(page, 'desktop-customers');
    await page.locator('#tier').fill('');
    await page.locator('#q').fill('ops@acme');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('tbody tr').first().filter({ hasText: 'Acme Robotics' }).waitFor();
    await page.getByRole('link', { name: 'Acme Robotics' }).click();
    await page.locator('#usage-title').waitFor();
    // Today's bar exists and is the tallest (all ten calls were today).
    const chart = page.locator('svg.chart').first();
    expect(await chart.getAttribute('aria-label')).toContain('10 in');
    expect(await chart.locator('rect.bar title').filter({ hasText: `${new Date().toISOString().slice(0, 10)}: 10` }).count()).toBe(1);

    await page.locator(`[data-key="${acme.keyId}"]`).getByRole('button', { name: 'Rotate' }).click();
    await page.locator('#new-secret').waitFor();
    const secret = (await page.locator('#new-secret').textContent())!;
    expect(secret).toMatch(/^tg_(live|test)_/);
    const keys = (await admin.request('GET', `/v1/customers/${acme.id}/keys`)).body.data as Array<{ id: string; prefix: string }>;
    expect(keys).toHaveLength(2);
    expect(keys.some((key) => key.id !== acme.keyId && secret.startsWith(key.prefix))).toBe(true);
    // The new secret authenticates (a 429 is this customer's rate limit, which is past authentication: never a 401).
    expect((await call('GET', `${service.url}/v1/basic/echo?message=new`, { apiKey: secret })).status).not.toBe(401);
    expect((await call('GET', `${service.url}/v1/basic/echo?message=bad`, { apiKey: `${secret}x` })).status).toBe(401);
    await screenshot(page, 'desktop-customer');

    // Rename (the page asks with a prompt) and create: both land in the admin API's view of the keys.
    page.once('dialog', (dialog) => void dialog.accept('billing-job'));
    await page.locator(`[data-key="${acme.keyId}"]`).getByRole('button', { name: 'Rename' }).click();
    await page.locator('#status').filter({ hasText: 'Renamed.' }).waitFor();
    expect((await admin.request('GET', `/v1/customers/${acme.id}/keys/${acme.keyId}`)).body.name).toBe('billing-job');
    await page.locator('#new-key-name').fill('support-bot');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.locator('#status').filter({ hasText: 'Key created.' }).waitFor();
    const created = (await admin.request('GET', `/v1/customers/${acme.id}/keys`)).body.data.find((key: { name: string }) => key.name === 'support-bot');
    expect((await page.locator('#new-secret').textContent())!.startsWith(created.prefix)).toBe(true);
  }, TIMEOUT);

  it('changes a tier and suspends and resumes a customer, as the admin API then reports', async () => {
    await page.goto(`${service.url}/console/#customer/${globex}`);
    await page.locator('#tier-select').waitFor();
    page.on('dialog', (dialog) => void dialog.accept());
    await page.locator('#tier-select').selectOption('free');
    await page.getByRole('button', { name: 'Change tier' }).click();
    await page.locator('#status').filter({ hasText: 'Now on free.' }).waitFor();
    expect((await admin.request('GET', `/v1/customers/${globex}`)).body.tier).toBe('free');
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.getByRole('button', { name: 'Resume' }).waitFor();
    expect((await admin.request('GET', `/v1/customers/${globex}`)).body.status).toBe('suspended');
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('button', { name: 'Suspend' }).waitFor();
    expect((await admin.request('GET', `/v1/customers/${globex}`)).body.status).toBe('active');
    page.removeAllListeners('dialog');
  }, TIMEOUT);

  it('flags a dead-lettered notification on the overview and redelivers it from the customer page', async () => {
    const [notification] = await database.query<{ id: string }>('SELECT id FROM notifications WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 1', [acme.id]);
    expect(notification).toBeDefined();
    await database.query(`UPDATE outbox SET status = 'dead', attempts = 8, last_error = 'gave up' WHERE notification_id = $1`, [notification.id]);
    await page.goto(`${service.url}/console/#overview`);
    await page.reload();
    const dead = page.locator('[data-kind="dead_letter"]');
    await dead.first().waitFor();
    expect(await dead.first().textContent()).toContain(`notification ${notification.id} gave up after 8 attempt(s)`);

    await page.goto(`${service.url}/console/#customer/${acme.id}`);
    const row = page.locator(`[data-notification="${notification.id}"]`);
    await row.filter({ hasText: 'dead' }).waitFor();
    await row.getByRole('button', { name: 'Redeliver' }).click();
    await page.locator('#status').filter({ hasText: 'Redeliver: done.' }).waitFor();
    const deliveries = await database.query<{ status: string }>('SELECT status FROM outbox WHERE notification_id = $1', [notification.id]);
    expect(deliveries.length).toBeGreaterThan(0);
    for (const delivery of deliveries) expect(delivery.status).not.toBe('dead');
  }, TIMEOUT);

  it('lists the latest ledger events of one customer for support questions', async () => {
    await page.goto(`${service.url}/console/#events`);
    // Ten calls before the tests, one more if the rotated key's call came after the rate-limit window.
    const [ledger] = await database.query<{ count: string }>('SELECT count(*)::text AS count FROM usage_events WHERE customer_id = $1', [acme.id]);
    const count = Number(ledger.count);
    expect(count).toBeGreaterThanOrEqual(10);
    await page.locator('#event-customer').fill(acme.id);
    await page.getByRole('button', { name: 'Show' }).click();
    await page.locator('#view p').filter({ hasText: `${count} event(s)` }).waitFor();
    const customers = await page.locator('#view tbody tr td:nth-child(2)').allTextContents();
    expect(customers).toEqual(new Array(count).fill(acme.id));
    // Another meter: none.
    await page.locator('#event-meter').fill('no_such_meter');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.locator('#view p.empty').waitFor();
    await screenshot(page, 'desktop-events');
  }, TIMEOUT);

  it('lists sync runs with their reports and retries a failed push from the Billing page', async () => {
    const sync = await admin.request('POST', '/v1/billing/sync');
    expect(sync.body).toMatchObject({ ran: true, dryRun: true });
    expect(sync.body.planned).toBeGreaterThan(0);
    await page.goto(`${service.url}/console/#billing`);
    const run = page.locator('[data-run]').first();
    await run.waitFor();
    const cells = await run.locator('td').allTextContents();
    expect(cells.slice(1, 5)).toEqual(['dry run', String(sync.body.planned), String(sync.body.sent), String(sync.body.failed)]);
    expect(await page.locator('section[aria-labelledby="catalog-title"]').textContent()).toContain('Stripe is off');
    const row = page.locator(`[data-push="${failedPushId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('meter_event_customer_not_found');
    await row.getByRole('button', { name: `Retry push ${failedPushId}` }).click();
    await page.locator('#status').filter({ hasText: 're-sent at the next sync' }).waitFor();
    const [stored] = await database.query<{ failure_code: string }>('SELECT failure_code FROM stripe_pushes WHERE id = $1', [failedPushId]);
    expect(stored.failure_code).toBe('retry_requested');
    await page.locator(`[data-push="${failedPushId}"]`).filter({ hasText: 'retry_requested' }).waitFor();
    expect(await page.locator(`[data-push="${failedPushId}"] button`).count()).toBe(0);
    await screenshot(page, 'desktop-billing');
  }, TIMEOUT);

  it('refuses changes without the CSRF token, from another site, and without a session', async () => {
    const login = await call('POST', `${service.url}/console/api/login`, { body: { token: TEST_ADMIN_TOKEN } });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const csrf = login.body.csrfToken as string;
    const rotate = `${service.url}/console/api/customers/${acme.id}/keys/${acme.keyId}/rotate`;
    const keysBefore = (await admin.request('GET', `/v1/customers/${acme.id}/keys`)).body.data.length;
    const refused = [
      await call('POST', rotate, { headers: { cookie }, body: {} }),
      await call('POST', rotate, { headers: { cookie, 'x-csrf-token': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') }, body: {} }),
      await call('POST', rotate, { headers: { cookie, 'x-csrf-token': csrf, origin: 'https://evil.example' }, body: {} }),
      await call('POST', rotate, { headers: { cookie, 'x-csrf-token': csrf, 'sec-fetch-site': 'cross-site' }, body: {} }),
    ];
    expect(refused.map((response) => [response.status, response.body.error])).toEqual([
      [403, 'csrf_token_invalid'],
      [403, 'csrf_token_invalid'],
      [403, 'cross_site_request'],
      [403, 'cross_site_request'],
    ]);
    expect((await call('GET', `${service.url}/console/api/overview`)).status).toBe(401);
    // The admin bearer token alone is not a console session.
    expect((await call('GET', `${service.url}/console/api/overview`, { bearer: TEST_ADMIN_TOKEN })).status).toBe(401);
    expect((await admin.request('GET', `/v1/customers/${acme.id}/keys`)).body.data.length).toBe(keysBefore);
    // Sign-in takes JSON only (an HTML form on another site cannot send it).
    const form = await fetch(`${service.url}/console/api/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${TEST_ADMIN_TOKEN}` });
    expect(form.status).toBe(415);
    // Signed out, the cookie opens nothing.
    expect((await call('POST', `${service.url}/console/api/logout`, { headers: { cookie, 'x-csrf-token': csrf } })).status).toBe(204);
    expect((await call('GET', `${service.url}/console/api/overview`, { headers: { cookie } })).status).toBe(401);
  }, TIMEOUT);

  it('fits a phone (no sideways scrolling) and its text meets 4.5:1 contrast', async () => {
    const phone = await browser.newContext(PHONE);
    const phonePage = await phone.newPage();
    await signIn(phonePage);
    await screenshot(phonePage, 'phone-overview');
    for (const hash of ['#customers', `#customer/${acme.id}`, '#billing', '#events']) {
      await phonePage.goto(`${service.url}/console/${hash}`);
      await phonePage.locator('#view h1').first().waitFor();
      await phonePage.waitForLoadState('networkidle');
      const width = await phonePage.evaluate(() => document.documentElement.scrollWidth);
      expect({ hash, width: width <= 390 }).toEqual({ hash, width: true });
      await screenshot(phonePage, `phone-${hash.slice(1).split('/')[0]}`);
    }
    await phone.close();

    for (const hash of ['#overview', '#billing']) {
      await page.goto(`${service.url}/console/${hash}`);
      await page.locator('#view h1').first().waitFor();
      const ratios = await page.evaluate(() => {
        const rgb = (color: string) => (color.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number);
        const luminance = (color: string) => {
          const [r, g, b] = rgb(color).map((v) => {
            const c = v / 255;
            return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
          });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const background = (node: any): string => {
          for (let current = node; current; current = current.parentElement) {
            const color = getComputedStyle(current).backgroundColor;
            if (color && color !== 'rgba(0, 0, 0, 0)' && color !== 'transparent') return color;
          }
          return 'rgb(255, 255, 255)';
        };
        const selectors = ['.tile dt', '.tile dd', '.sub', 'th', 'td', '.badge', 'nav a', '.button', '.brand-sub', 'a', '.empty'];
        return selectors.flatMap((selector) =>
          ([...document.querySelectorAll(selector)] as any[])
            .filter((node) => node.offsetParent !== null)
            .slice(0, 4)
            .map((node) => {
              const [a, b] = [luminance(getComputedStyle(node).color), luminance(background(node))];
              return { selector, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
            }),
        );
      });
      expect(ratios.length).toBeGreaterThan(10);
      for (const { selector, ratio } of ratios) expect({ hash, selector, ok: ratio >= 4.5 }).toEqual({ hash, selector, ok: true });
    }
    // Keyboard: on a fresh load the skip link comes first.
    await page.reload();
    await page.locator('#view h1').first().waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    expect(pageErrors).toEqual([]);
  }, TIMEOUT);
});
