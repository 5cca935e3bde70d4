import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { TollgateConfig } from '../../src/config/tollgate-config.js';
import { StripeEmulator } from '../stripe-emulator/stripe-emulator.js';
import { AdminClient } from '../support/admin.js';
import { Mailbox, readableMail } from '../support/mailbox.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, checkedFetch } from '../support/http.js';
import { until } from '../support/wait.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';

// Browser-side callbacks (page.evaluate) run in Chromium; the project's TypeScript has no DOM library.
declare const document: any;
declare const getComputedStyle: any;

const TIMEOUT = 60_000;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/portal/', import.meta.url));
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
const WEBHOOK_SECRET = `whsec_${randomBytes(16).toString('hex')}`;


/** Undoes quoted-printable soft line breaks and escapes, so links in the body can be read whole. */



const digits = (text: string | null) => (text ?? '').replace(/[^\d-]/g, '');

describe('developer portal (headless Chromium)', () => {
  let database: TestDatabase;
  let emulator: StripeEmulator;
  let mailbox: Mailbox;
  let service: TestApp;
  let admin: AdminClient;
  let browser: Browser;
  let customer: { customerId: string; secret: string; keyId: string; email: string };
  let desktop: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: run scripts/ensure-test-tools.sh (or set CHROMIUM_PATH).`);
    mkdirSync(ARTIFACTS, { recursive: true });
    database = await createTestDatabase();
    emulator = await StripeEmulator.start({ webhookSecret: WEBHOOK_SECRET });
    mailbox = new Mailbox();
    await mailbox.start();
    service = await startTestApp(database, {
      config: testConfig(database, {
        demo: true,
        smtpUrl: `smtp://127.0.0.1:${mailbox.port}`,
        stripe: { secretKey: `sk_test_${randomBytes(12).toString('hex')}`, apiUrl: emulator.url, webhookSecret: WEBHOOK_SECRET },
        stripeMaxRequestsPerSecond: 1000,
      }),
    });
    // Links in emails point at PUBLIC_URL (never at a request's Host header); the test app's port is known only now.
    service.app.get(TollgateConfig).publicUrl = service.url;
    admin = new AdminClient(service.url);
    const provisioned = await admin.request('POST', '/v1/billing/provision');
    expect(provisioned.status).toBe(200);

    const email = `dev-${randomBytes(4).toString('hex')}@acme.test`;
    const created = await admin.createCustomer('free', { name: 'Acme Robotics', email });
    const { secret, key } = await admin.createKey(created.id, { name: 'production' });
    customer = { customerId: created.id, secret, keyId: key.id, email };

    // Usage: metered requests now, and reported events on earlier days of this period (when there are any).
    for (let i = 0; i < 3; i++) expect((await call('GET', `${service.url}/v1/basic/echo?message=${i}`, { apiKey: secret })).status).toBe(200);
    const now = new Date();
    const events = [1, 3, 6]
      .map((daysAgo, index) => ({ daysAgo, quantity: [7, 12, 4][index] }))
      .filter(({ daysAgo }) => now.getUTCDate() - daysAgo >= 1)
      .map(({ daysAgo, quantity }) => ({
        customerId: created.id,
        meter: 'api_calls',
        quantity,
        timestamp: new Date(now.getTime() - daysAgo * 86_400_000).toISOString(),
        idempotencyKey: `portal-${daysAgo}`,
      }));
    if (events.length) expect((await admin.request('POST', '/v1/events', { events })).status).toBe(200);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    desktop = await browser.newContext(DESKTOP);
    page = await desktop.newPage();
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    await Promise.all([mailbox?.stop(), emulator?.stop()]);
    await database?.dispose();
  }, TIMEOUT);

  async function signInWithKey(target: Page, key: string): Promise<void> {
    await target.goto(`${service.url}/portal/`);
    await target.locator('#api-key').fill(key);
    await target.getByRole('button', { name: 'Sign in', exact: true }).click();
    await target.locator('#dashboard').waitFor({ state: 'visible' });
  }

  async function screenshot(target: Page, name: string): Promise<void> {
    // From the top, so the sticky header is where a person sees it.
    await target.evaluate(() => (globalThis as any).scrollTo(0, 0));
    await target.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  }

  it('serves the page and every asset itself, with a strict content security policy', async () => {
    const html = await checkedFetch(`${service.url}/portal`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(html.headers.get('x-frame-options')).toBe('DENY');
    const text = await html.text();
    const assets = [...text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]).filter((url) => !url.startsWith('#'));
    for (const asset of assets) expect(asset.startsWith('/')).toBe(true); // nothing from another host
    for (const asset of assets.filter((url) => url.startsWith('/portal/assets/'))) {
      const response = await checkedFetch(`${service.url}${asset}`);
      expect(response.status).toBe(200);
      const revalidated = await checkedFetch(`${service.url}${asset}`, { headers: { 'if-none-match': response.headers.get('etag') ?? '' } });
      expect(revalidated.status).toBe(304);
    }
    expect((await checkedFetch(`${service.url}/portal/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
  }, TIMEOUT);

  it('signs in with an API key into an HttpOnly, SameSite=Strict session cookie that does not hold the key', async () => {
    await page.goto(`${service.url}/portal/`);
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    await screenshot(page, 'desktop-sign-in');
    const phone = await browser.newContext(PHONE);
    const phonePage = await phone.newPage();
    await phonePage.goto(`${service.url}/portal/`);
    await phonePage.locator('#sign-in').waitFor({ state: 'visible' });
    await screenshot(phonePage, 'phone-sign-in');
    await phone.close();

    await page.locator('#api-key').fill('tg_live_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#key-error').waitFor({ state: 'visible' });
    expect(await page.locator('#key-error').textContent()).toContain('does not work');

    await signInWithKey(page, customer.secret);
    expect(await page.locator('#account-name').textContent()).toBe('Acme Robotics');
    const cookies = await desktop.cookies(`${service.url}/portal/`);
    const session = cookies.find((cookie) => cookie.name === 'tg_portal_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/portal', secure: false });
    expect(session!.value).not.toContain(customer.secret);
    expect(session!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await page.evaluate(() => document.cookie)).not.toContain('tg_portal_session');
    // The database knows only the token's SHA-256.
    const rows = await database.query<{ token_hash: string; method: string; api_key_id: string }>('SELECT token_hash, method, api_key_id FROM portal_sessions WHERE customer_id = $1', [customer.customerId]);
    expect(rows).toContainEqual({ token_hash: createHash('sha256').update(session!.value).digest('hex'), method: 'api_key', api_key_id: customer.keyId });
    expect(JSON.stringify(rows)).not.toContain(session!.value);
  }, TIMEOUT);

  it('shows the tier, the rate limit, usage equal to GET /v1/me/usage, and the projected invoice', async () => {
    const usage = (await call('GET', `${service.url}/v1/me/usage`, { apiKey: customer.secret })).body;
    const invoice = (await admin.request('GET', `/v1/customers/${customer.customerId}/invoice-preview`)).body;
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    expect(await page.locator('#plan-tier').getAttribute('data-tier')).toBe('free');
    expect(await page.locator('#plan').textContent()).toContain('10 requests per minute');
    const calls = usage.meters.find((meter: { meter: string }) => meter.meter === 'api_calls');
    expect(calls.total).toBeGreaterThanOrEqual(3);
    const meter = page.locator('[data-meter="api_calls"]');
    for (const field of ['total', 'included', 'remaining', 'overage'] as const) {
      expect(digits(await meter.locator(`[data-field="${field}"]`).textContent())).toBe(String(calls[field]));
    }
    // The chart's bars carry the API's daily series.
    const bars = await meter.locator('.chart-bar').evaluateAll((nodes) => nodes.map((node) => [(node as any).dataset.date, Number((node as any).dataset.quantity)]));
    const charted = Object.fromEntries(bars.filter(([, quantity]) => (quantity as number) > 0));
    const expected = Object.fromEntries(usage.daily.filter((point: { meter: string }) => point.meter === 'api_calls').map((point: { date: string; quantity: number }) => [point.date, point.quantity]));
    expect(charted).toEqual(expected);
    expect(await page.locator('#invoice-total').textContent()).toBe(`$${invoice.total}`);
    expect(await page.locator('#stat-rate').textContent()).toContain('10 / min');

    expect(await page.locator('main').innerText()).not.toMatch(/\bnull\b|\bundefined\b|\bNaN\b|\[object/);
    await screenshot(page, 'desktop-dashboard');
    const phone = await browser.newContext(PHONE);
    const phonePage = await phone.newPage();
    await signInWithKey(phonePage, customer.secret);
    await screenshot(phonePage, 'phone-dashboard');
    // Nothing overflows the phone's width.
    expect(await phonePage.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await phone.close();
  }, TIMEOUT);

  it('is labelled, keyboard-operable and readable', async () => {
    const unlabeled = await page.evaluate(() =>
      ([...document.querySelectorAll('input, select, button, a[href]')] as any[])
        .filter((node) => (node as any).offsetParent !== null)
        .filter((node) => {
          const element = node as any;
          const name = element.getAttribute('aria-label') || element.labels?.[0]?.textContent || element.textContent;
          return !name || !name.trim();
        })
        .map((node) => node.outerHTML.slice(0, 120)),
    );
    expect(unlabeled).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
    // Text contrast (WCAG AA, 4.5:1) of the page's text styles against their backgrounds.
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
      const selectors = ['.stat-label', '.stat-detail', '.muted', '.facts dt', '.button-primary', '.badge-success', '.section-nav a', 'summary', '.meter-figures dt', 'thead th', '.help'];
      return selectors.flatMap((selector) =>
        ([...document.querySelectorAll(selector)] as any[])
          .filter((node) => (node as any).offsetParent !== null)
          .slice(0, 3)
          .map((node) => {
            const [a, b] = [luminance(getComputedStyle(node).color), luminance(background(node))];
            return { selector, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05) };
          }),
      );
    });
    expect(ratios.length).toBeGreaterThan(10);
    for (const { selector, ratio } of ratios) expect({ selector, ok: ratio >= 4.5 }).toEqual({ selector, ok: true });
    // Keyboard: the skip link comes first and moves focus into the content.
    await page.goto(`${service.url}/portal/`);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
  }, TIMEOUT);

  it('creates a key whose secret is shown once and works, and revokes a key, which then gets 401', async () => {
    await page.locator('#key-name').fill('ci-bot');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.locator('#secret-panel').waitFor({ state: 'visible' });
    const secret = await page.locator('#secret-value').inputValue();
    expect(secret).toMatch(/^tg_live_[A-Za-z0-9]{43}$/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('secret-panel');
    await page.getByRole('button', { name: 'Copy', exact: true }).first().click();
    await until(async () => (await page.locator('#copy-status').textContent())?.includes('Copied'));
    expect((await call('GET', `${service.url}/v1/basic/echo?message=new`, { apiKey: secret })).status).toBe(200);
    await screenshot(page, 'desktop-new-key');

    await page.getByRole('button', { name: 'I have saved it' }).click();
    expect(await page.locator('#secret-value').inputValue()).toBe('');
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    expect(await page.content()).not.toContain(secret);

    const keys = (await call('GET', `${service.url}/v1/me/keys`, { apiKey: customer.secret })).body.data as Array<{ id: string; name: string }>;
    const created = keys.find((key) => key.name === 'ci-bot')!;
    const row = page.locator(`tr[data-key-id="${created.id}"]`);
    await row.getByRole('button', { name: 'Revoke key ci-bot' }).click();
    await page.locator('#confirm-dialog').waitFor({ state: 'visible' });
    await page.locator('#confirm-ok').click();
    await until(async () => (await row.textContent())?.includes('Revoked'));
    await until(async () => (await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret })).status === 401, 3000);
    // The signed-in key still works, and its session goes on.
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: customer.secret })).status).toBe(200);
  }, TIMEOUT);

  it('renames a key from its row (Enter confirms); the secret keeps working', async () => {
    const { secret, key } = await admin.createKey(customer.customerId, { name: 'old-name' });
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    const row = page.locator(`tr[data-key-id="${key.id}"]`);
    await row.getByRole('button', { name: 'Rename key old-name' }).click();
    const input = page.getByLabel('New name');
    await input.waitFor({ state: 'visible' });
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('rename-key-name');
    await input.fill('billing-worker');
    await input.press('Enter');
    await until(async () => (await row.locator('.key-name').textContent()) === 'billing-worker');
    const listed = (await call('GET', `${service.url}/v1/me/keys`, { apiKey: customer.secret })).body.data as Array<{ id: string; name: string }>;
    expect(listed.find((candidate) => candidate.id === key.id)?.name).toBe('billing-worker');
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret })).status).toBe(200);
  }, TIMEOUT);

  it('rotates a key: a new secret once, the old one still working during the grace period', async () => {
    const { secret: oldSecret, key } = await admin.createKey(customer.customerId, { name: 'rotating' });
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator(`tr[data-key-id="${key.id}"]`).getByRole('button', { name: 'Rotate key rotating' }).click();
    await page.locator('#rotate-grace').selectOption('3600');
    await page.locator('#confirm-ok').click();
    await page.locator('#secret-panel').waitFor({ state: 'visible' });
    const newSecret = await page.locator('#secret-value').inputValue();
    expect(newSecret).not.toBe(oldSecret);
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: newSecret })).status).toBe(200);
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: oldSecret })).status).toBe(200);
    await page.getByRole('button', { name: 'I have saved it' }).click();
  }, TIMEOUT);

  it('lists the newest 50 keys and shows older ones on request', async () => {
    for (let i = 0; i < 50; i++) await admin.createKey(customer.customerId, { name: `fleet-${i}` });
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    // The key this session was opened with is the oldest: on the second page.
    const first = page.locator(`tr[data-key-id="${customer.keyId}"]`);
    expect(await first.count()).toBe(0);
    await page.getByRole('button', { name: 'Show older keys' }).click();
    await first.waitFor({ state: 'visible' });
    expect(await page.locator('#more-keys').count()).toBe(0);
  }, TIMEOUT);

  it('refuses state-changing portal calls without the CSRF token (403), and cross-site ones', async () => {
    const cookie = (await desktop.cookies(`${service.url}/portal/`)).find((candidate) => candidate.name === 'tg_portal_session')!;
    const headers = { cookie: `tg_portal_session=${cookie.value}` };
    const session = await call('GET', `${service.url}/portal/api/session`, { headers });
    expect(session.status).toBe(200);
    expect(session.headers.get('cache-control')).toBe('no-store');
    const csrf = session.body.csrfToken as string;

    const missing = await call('POST', `${service.url}/portal/api/keys`, { headers, body: { name: 'csrf' } });
    expect(missing.status).toBe(403);
    expect(missing.body.error).toBe('csrf_token_invalid');
    expect((await call('POST', `${service.url}/portal/api/keys`, { headers: { ...headers, 'x-csrf-token': 'wrong' }, body: { name: 'csrf' } })).status).toBe(403);
    expect((await call('DELETE', `${service.url}/portal/api/keys/${customer.keyId}`, { headers })).status).toBe(403);
    expect((await call('POST', `${service.url}/portal/api/upgrade`, { headers, body: { tier: 'pro' } })).status).toBe(403);
    const crossSite = await call('POST', `${service.url}/portal/api/keys`, { headers: { ...headers, 'x-csrf-token': csrf, origin: 'https://evil.example' }, body: { name: 'csrf' } });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error).toBe('cross_site_request');
    // From the page itself, a fetch without the header is refused too.
    const inPage = await page.evaluate(async () => (await fetch('/portal/api/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status);
    expect(inPage).toBe(403);
    // With the token it goes through.
    const allowed = await call('POST', `${service.url}/portal/api/keys`, { headers: { ...headers, 'x-csrf-token': csrf }, body: { name: 'csrf-ok' } });
    expect(allowed.status).toBe(201);
    // No session: 401; sign-in only as JSON from this origin.
    expect((await call('GET', `${service.url}/portal/api/overview`)).status).toBe(401);
    const form = await checkedFetch(`${service.url}/portal/api/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `apiKey=${customer.secret}` });
    expect(form.status).toBe(415);
    const foreign = await call('POST', `${service.url}/portal/api/login`, { headers: { origin: 'https://evil.example' }, body: { apiKey: customer.secret } });
    expect(foreign.status).toBe(403);
  }, TIMEOUT);

  it('sets the webhook URL and shows a new signing secret once', async () => {
    await page.locator('#webhook-url').fill('http://127.0.0.1:9/hook');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('#webhook-error').waitFor({ state: 'visible' });
    expect(await page.locator('#webhook-error').textContent()).toContain('public address');

    await page.locator('#webhook-url').fill('https://hooks.acme.test/tollgate');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await until(async () => (await call('GET', `${service.url}/v1/me`, { apiKey: customer.secret })).body.webhookUrl === 'https://hooks.acme.test/tollgate');
    await page.getByRole('button', { name: 'Generate a new signing secret' }).click();
    await page.locator('#signing-panel').waitFor({ state: 'visible' });
    expect(await page.locator('#signing-value').inputValue()).toMatch(/^whsec_/);
    await page.getByRole('button', { name: 'I have saved it' }).last().click();
    expect(await page.locator('#signing-state').textContent()).toContain('A signing secret is set');
  }, TIMEOUT);

  it('starts an upgrade through Stripe Checkout; the tier becomes pro when the subscription webhook arrives', async () => {
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator('#upgrade').scrollIntoViewIfNeeded();
    await screenshot(page, 'desktop-dashboard-full');
    await page.getByRole('button', { name: 'Upgrade to Pro' }).click();
    await page.waitForURL((url) => url.href.startsWith(`${emulator.url}/checkout/`));
    const sessionId = new URL(page.url()).pathname.split('/').pop()!;
    expect(await page.textContent('h1')).toContain('Emulated Stripe Checkout');

    const subscription = await emulator.completeCheckout(sessionId);
    const delivered = await emulator.postWebhook(`${service.url}/v1/stripe/webhooks`, { type: 'customer.subscription.created', data: { object: subscription } });
    expect(delivered.status).toBe(200);

    await page.goto(`${service.url}/portal/?checkout=success#plan`);
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    expect(await page.locator('#plan-tier').getAttribute('data-tier')).toBe('pro');
    expect(await page.locator('#flash').textContent()).toContain('Pro');
    expect(page.url()).toBe(`${service.url}/portal/#plan`);
    expect((await call('GET', `${service.url}/v1/me`, { apiKey: customer.secret })).body.tier).toBe('pro');
    expect(await page.locator('#invoice-total').textContent()).toBe('$49.00');
    expect(await page.locator('#tiers-table th.current').getAttribute('data-tier')).toBe('pro');
    expect(await page.locator('main').innerText()).not.toMatch(/\bnull\b|\bundefined\b|\bNaN\b|\[object/);
    await screenshot(page, 'desktop-after-upgrade');
  }, TIMEOUT);

  it('signs in with a one-time link sent by email, once; any address gets the same answer', async () => {
    const unknown = await call('POST', `${service.url}/portal/api/login/email`, { body: { email: 'nobody@nowhere.test' } });
    const context = await browser.newContext(PHONE);
    const phonePage = await context.newPage();
    await phonePage.goto(`${service.url}/portal/`);
    await phonePage.locator('#email').fill(customer.email.toUpperCase());
    await phonePage.getByRole('button', { name: 'Email me a link' }).click();
    await phonePage.locator('#email-status').waitFor({ state: 'visible' });
    expect(await phonePage.locator('#email-status').textContent()).toBe(unknown.body.message);
    expect(unknown.status).toBe(202);

    // Notifications (plan change, key revocations) go to the same address: pick the sign-in email.
    const findLink = () =>
      mailbox.messages
        .filter((candidate) => candidate.to === customer.email)
        .map((candidate) => /https?:\/\/[^\s"<>]+#login-token=[A-Za-z0-9_-]+/.exec(readableMail(candidate.raw))?.[0])
        .find(Boolean);
    const link = await until(findLink);
    expect(link).toMatch(new RegExp(`^${service.url}/portal/#login-token=`));
    expect(mailbox.messages.filter((candidate) => candidate.to === 'nobody@nowhere.test')).toEqual([]);

    // Opened from the mail app: a new tab.
    const tab = await context.newPage();
    await tab.goto(link!);
    await tab.locator('#finish-sign-in').waitFor({ state: 'visible' });
    expect(tab.url()).not.toContain('login-token');
    await screenshot(tab, 'phone-finish-sign-in');
    await tab.getByRole('button', { name: 'Continue to the portal' }).click();
    await tab.locator('#dashboard').waitFor({ state: 'visible' });
    expect(await tab.locator('#account-name').textContent()).toBe('Acme Robotics');
    await screenshot(tab, 'phone-after-email-sign-in');
    await context.close();

    // The same link again: refused.
    const again = await browser.newContext(DESKTOP);
    const againPage = await again.newPage();
    await againPage.goto(link!);
    await againPage.getByRole('button', { name: 'Continue to the portal' }).click();
    await againPage.locator('#finish-error').waitFor({ state: 'visible' });
    expect(await againPage.locator('#finish-error').textContent()).toContain('already used');
    await again.close();
  }, TIMEOUT);

  it('ends the sessions opened with a key when that key is revoked, and on sign-out', async () => {
    const { secret, key } = await admin.createKey(customer.customerId, { name: 'short-lived' });
    const login = await checkedFetch(`${service.url}/portal/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: secret }) });
    expect(login.status).toBe(200);
    const setCookie = login.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^tg_portal_session=[A-Za-z0-9_-]{43}; Path=\/portal; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    const headers = { cookie: setCookie.split(';')[0] };
    expect((await call('GET', `${service.url}/portal/api/session`, { headers })).status).toBe(200);
    await admin.request('DELETE', `/v1/customers/${customer.customerId}/keys/${key.id}`);
    await until(async () => (await call('GET', `${service.url}/portal/api/session`, { headers })).status === 401, 3000);

    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    expect((await desktop.cookies(`${service.url}/portal/`)).find((cookie) => cookie.name === 'tg_portal_session')).toBeUndefined();
  }, TIMEOUT);
});
