import { existsSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { until } from '../support/wait.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';

// Browser-side callbacks (page.evaluate) run in Chromium; the project's TypeScript has no DOM library.
declare const document: any;

const TIMEOUT = 60_000;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/portal/', import.meta.url));
const DESKTOP = { viewport: { width: 1280, height: 800 } };
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

/** A portal API call from inside the signed-in page: the session cookie plus its CSRF token, as a tampered page would send it. */
async function portalCall(page: Page, method: string, path: string, body: unknown): Promise<{ status: number; body: any }> {
  return page.evaluate(
    async ({ method, path, body }) => {
      const session = (await (await fetch('/portal/api/session', { credentials: 'same-origin' })).json()) as { csrfToken: string };
      const response = await fetch(`/portal/api${path}`, {
        method,
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrfToken },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    },
    { method, path, body },
  );
}

describe('developer portal: per-key controls (headless Chromium)', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;
  let browser: Browser;
  let desktop: BrowserContext;
  let page: Page;
  let customerId: string;
  let sessionSecret: string;
  /** A key whose endpoints and metadata the operator set (locked for the customer). */
  let partner: { id: string; secret: string };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: run scripts/ensure-test-tools.sh (or set CHROMIUM_PATH).`);
    mkdirSync(ARTIFACTS, { recursive: true });
    database = await createTestDatabase();
    service = await startTestApp(database, { config: testConfig(database, { demo: true }) });
    admin = new AdminClient(service.url);
    const customer = await admin.createCustomer('free', { name: 'Acme Robotics', email: `dev-${randomBytes(4).toString('hex')}@acme.test` });
    customerId = customer.id;
    sessionSecret = (await admin.createKey(customerId, { name: 'production' })).secret;
    const issued = await admin.createKey(customerId, { name: 'partner', controls: { endpoints: ['/v1/reports/**'], metadata: { partner: 'acme-eu' } } });
    partner = { id: issued.key.id, secret: issued.secret };

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    desktop = await browser.newContext(DESKTOP);
    page = await desktop.newPage();
    await signIn(page);
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await service?.close();
    await database?.dispose();
  }, TIMEOUT);

  async function signIn(target: Page): Promise<void> {
    await target.goto(`${service.url}/portal/`);
    await target.locator('#api-key').fill(sessionSecret);
    await target.getByRole('button', { name: 'Sign in', exact: true }).click();
    await target.locator('#dashboard').waitFor({ state: 'visible' });
  }

  async function storedKey(keyId: string): Promise<any> {
    const listed = await admin.request('GET', `/v1/customers/${customerId}/keys?limit=100`);
    expect(listed.status).toBe(200);
    return (listed.body.data as any[]).find((key) => key.id === keyId);
  }

  /** The API keys card only: the rest of the page is covered by portal.e2e-spec's screenshots. */
  async function screenshot(target: Page, name: string): Promise<void> {
    await target.locator('#keys').screenshot({ path: `${ARTIFACTS}${name}.png` });
  }

  it('sets a key\'s rate limit and IP allowlist from its row, keyboard only; the key is then refused from other addresses and limited', async () => {
    const { secret, key } = await admin.createKey(customerId, { name: 'worker' });
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    const row = page.locator(`tr[data-key-id="${key.id}"]`);
    expect((await row.locator('td[data-label="Controls"]').textContent())?.trim()).toBe('None');

    // Keyboard: the row's button opens the dialog with focus in its first field.
    await row.getByRole('button', { name: 'Controls of key worker' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.locator('#controls-dialog');
    await dialog.waitFor({ state: 'visible' });
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('ctl-rateLimit');
    for (const label of ['Rate limit', 'Units left', 'Refill', 'Refill to', 'IP allowlist', 'Endpoints']) {
      expect(await dialog.getByLabel(label, { exact: true }).count()).toBe(1);
    }

    // A limit looser than the account's (free: 10/min) is refused by the API, and the refusal is announced in words.
    await page.keyboard.type('100/min');
    await page.keyboard.press('Enter');
    const error = page.locator('#controls-error');
    await until(async () => (await error.isVisible()) && (await error.textContent()));
    expect(await error.getAttribute('role')).toBe('alert');
    expect(await error.getAttribute('aria-live')).toBe('assertive');
    expect(await error.textContent()).toContain("cannot be looser than your account's");
    expect(await error.textContent()).toContain('Choose a lower limit');
    expect((await storedKey(key.id)).controls.rateLimit).toBeNull();

    // A cap that is not a number is caught in the page, on its field.
    await dialog.getByLabel('Units left', { exact: true }).fill('lots');
    await page.getByRole('button', { name: 'Save controls' }).click();
    expect(await error.textContent()).toBe('Units left must be a whole number, 0 or more.');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('ctl-cap-remaining');
    expect(await dialog.getByLabel('Units left', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');

    await dialog.getByLabel('Rate limit', { exact: true }).fill('1/min');
    await dialog.getByLabel('IP allowlist', { exact: true }).fill('203.0.113.0/24\n2001:db8::/32');
    await page.keyboard.press('Tab'); // → Endpoints
    await page.keyboard.press('Tab'); // → Cancel
    await page.keyboard.press('Tab'); // → Save controls
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('controls-save');
    await page.keyboard.press('Enter');
    await page.locator('#controls-dialog').waitFor({ state: 'hidden' });
    await until(async () => (await row.locator('td[data-label="Controls"]').textContent())?.includes('Rate limit: 1/min'));
    expect(await row.locator('td[data-label="Controls"]').textContent()).toContain('IP allowlist: 2 addresses');
    expect(await page.locator('#flash').textContent()).toBe('Controls of key “worker” saved.');

    const stored = await storedKey(key.id);
    expect(stored.controls).toEqual({ rateLimit: ['1/min'], usageCap: null, ipAllowlist: ['203.0.113.0/24', '2001:db8::/32'], endpoints: null, metadata: null });
    expect(stored.lockedControls).toEqual([]);
    // Applied: the test client is 127.0.0.1, not on the list (key caches drop the key within a second).
    await until(async () => (await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret })).body?.error === 'ip_not_allowed', 3000);
    const refused = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toBe('ip_not_allowed');

    // Removing the allowlist (an emptied field) lets the key in again, under its own 1/min.
    await row.getByRole('button', { name: 'Controls of key worker' }).click();
    await page.locator('#controls-dialog').waitFor({ state: 'visible' });
    expect(await dialog.getByLabel('IP allowlist', { exact: true }).inputValue()).toBe('203.0.113.0/24\n2001:db8::/32');
    await dialog.getByLabel('IP allowlist', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Save controls' }).click();
    await page.locator('#controls-dialog').waitFor({ state: 'hidden' });
    expect((await storedKey(key.id)).controls).toMatchObject({ rateLimit: ['1/min'], ipAllowlist: null });
    const admitted = await until(async () => {
      const response = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret });
      return response.status === 200 ? response : undefined;
    }, 3000);
    expect(admitted.status).toBe(200);
    const limited = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe('rate_limit_exceeded');
    // The account's other keys are not held by this key's own limit.
    expect((await call('GET', `${service.url}/v1/basic/echo`, { apiKey: sessionSecret })).status).toBe(200);
  }, TIMEOUT);

  it('shows the operator\'s controls locked and read-only, and the API refuses a tampered change', async () => {
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    const row = page.locator(`tr[data-key-id="${partner.id}"]`);
    const summary = row.locator('td[data-label="Controls"]');
    expect(await summary.locator('[data-control="endpoints"]').textContent()).toBe('Endpoints: /v1/reports/** (locked)');
    expect(await summary.locator('[data-control="metadata"]').textContent()).toBe('Metadata: set (locked)');

    await row.getByRole('button', { name: 'Controls of key partner' }).click();
    const dialog = page.locator('#controls-dialog');
    await dialog.waitFor({ state: 'visible' });
    const endpoints = dialog.locator('[data-control="endpoints"]');
    expect(await endpoints.getAttribute('data-locked')).toBe('true');
    expect(await endpoints.locator('input, textarea, select').count()).toBe(0);
    expect(await endpoints.textContent()).toContain('/v1/reports/**');
    expect(await endpoints.textContent()).toContain('Set by your API provider: only they can change or remove it.');
    expect(await dialog.locator('[data-control="metadata"] pre').textContent()).toContain('"partner": "acme-eu"');
    expect(await page.locator('#ctl-endpoints').count()).toBe(0);
    // The unlocked ones stay editable next to the locked ones.
    await dialog.getByLabel('IP allowlist', { exact: true }).fill('127.0.0.1');
    await page.getByRole('button', { name: 'Save controls' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await storedKey(partner.id)).controls).toMatchObject({ ipAllowlist: ['127.0.0.1/32'], endpoints: ['/v1/reports/**'], metadata: { partner: 'acme-eu' } });
    expect((await storedKey(partner.id)).lockedControls).toEqual(['endpoints', 'metadata']);

    // A page edited to send the locked ones anyway: refused, nothing changed.
    const unlock = await portalCall(page, 'PATCH', `/keys/${partner.id}`, { controls: { endpoints: null } });
    expect(unlock.status).toBe(403);
    expect(unlock.body).toMatchObject({ error: 'control_locked', controls: ['endpoints'] });
    const metadata = await portalCall(page, 'PATCH', `/keys/${partner.id}`, { controls: { metadata: { partner: 'someone-else' } } });
    expect(metadata.status).toBe(403);
    expect(metadata.body.error).toBe('control_locked');
    expect((await storedKey(partner.id)).controls).toMatchObject({ endpoints: ['/v1/reports/**'], metadata: { partner: 'acme-eu' } });
    // Still enforced: a route its tier allows but its endpoints do not is refused.
    const outside = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: partner.secret });
    expect(outside.status).toBe(403);
    expect(outside.body.error).toBe('endpoint_not_allowed');
  }, TIMEOUT);

  it('creates a key with controls from the create form; refusals are shown in words', async () => {
    await page.reload();
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    const form = page.locator('#create-key-form');
    await page.locator('#key-name').fill('reports-bot');
    await form.getByText('Restrict the new key (optional)').click();
    await form.getByLabel('Rate limit', { exact: true }).fill('60/min');
    await page.getByRole('button', { name: 'Create key' }).click();
    const error = page.locator('#create-key-error');
    await until(async () => (await error.isVisible()) && (await error.textContent())?.includes("cannot be looser than your account's"));
    expect(await error.getAttribute('aria-live')).toBe('assertive');

    await form.getByLabel('Rate limit', { exact: true }).fill('2/min');
    await form.getByLabel('Units left', { exact: true }).fill('100');
    await form.getByLabel('Refill', { exact: true }).selectOption('week');
    await page.getByRole('button', { name: 'Create key' }).click();
    expect(await error.textContent()).toBe('Refill to must be a whole number, 0 or more.');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('new-cap-amount');
    await form.getByLabel('Refill to', { exact: true }).fill('100');
    await form.getByLabel('Endpoints', { exact: true }).fill('/v1/basic/**');
    await screenshot(page, 'desktop-new-key-controls');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.locator('#secret-panel').waitFor({ state: 'visible' });
    const secret = await page.locator('#secret-value').inputValue();
    expect(await error.isHidden()).toBe(true);
    const created = ((await call('GET', `${service.url}/v1/me/keys?limit=100`, { apiKey: sessionSecret })).body.data as any[]).find((key) => key.name === 'reports-bot');
    expect((await storedKey(created.id)).controls).toEqual({ rateLimit: ['2/min'], usageCap: { remaining: 100, refill: { amount: 100, interval: 'week' } }, ipAllowlist: null, endpoints: ['/v1/basic/**'], metadata: null });
    // The form is empty again for the next key; the new key works under its cap.
    expect(await form.getByLabel('Rate limit', { exact: true }).inputValue()).toBe('');
    const echoed = await call('GET', `${service.url}/v1/basic/echo`, { apiKey: secret });
    expect(echoed.status).toBe(200);
    expect((await storedKey(created.id)).controls.usageCap.remaining).toBe(99);
    await page.getByRole('button', { name: 'I have saved it' }).click();
  }, TIMEOUT);

  it('creates a key with controls through the portal API under the key holder\'s rules, refusing bad input with 400', async () => {
    const created = await portalCall(page, 'POST', '/keys', { name: 'edge', controls: { ipAllowlist: ['198.51.100.7'], usageCap: { remaining: 5, refill: { amount: 5, interval: 'day' } } } });
    expect(created.status).toBe(201);
    expect(created.body.key.controls).toMatchObject({ ipAllowlist: ['198.51.100.7/32'], usageCap: { remaining: 5, refill: { amount: 5, interval: 'day' } } });
    expect(created.body.key.lockedControls).toEqual([]);
    await until(async () => (await call('GET', `${service.url}/v1/basic/echo`, { apiKey: created.body.secret })).body?.error === 'ip_not_allowed', 3000);

    expect((await portalCall(page, 'POST', '/keys', { name: 'x', controls: { metadata: { a: 1 } } })).body.error).toBe('control_locked');
    expect((await portalCall(page, 'POST', '/keys', { name: 'x', controls: { rateLimit: ['1000/sec'] } })).body.error).toBe('rate_limit_not_held');
    const hostile: unknown[] = [
      { controls: { rateLimit: ['fast'] } },
      { controls: { rateLimit: 'nope' } },
      { controls: { ipAllowlist: ['not-an-ip'] } },
      { controls: { ipAllowlist: ['10.0.0.1\u0000'] } },
      { controls: { usageCap: { remaining: -1 } } },
      { controls: { usageCap: { remaining: 1e300 } } },
      { controls: { usageCap: { remaining: 1, refill: { amount: 1, interval: 'year' } } } },
      { controls: { endpoints: ['no-slash'] } },
      { controls: 'all' },
      { controls: { ipAllowlist: Array.from({ length: 51 }, (_, index) => `10.0.0.${index}`) } },
    ];
    for (const body of hostile) {
      const refused = await portalCall(page, 'POST', '/keys', { name: 'hostile', ...(body as object) });
      expect([refused.status, refused.body.error]).toEqual([400, 'validation_failed']);
    }
    const deep = await portalCall(page, 'POST', '/keys', `{"controls":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`);
    expect(deep.status).toBeGreaterThanOrEqual(400);
    expect(deep.status).toBeLessThan(500);
    const keys = (await call('GET', `${service.url}/v1/me/keys?limit=100`, { apiKey: sessionSecret })).body.data as Array<{ name: string }>;
    expect(keys.filter((key) => key.name === 'hostile' || key.name === 'x')).toEqual([]);
  }, TIMEOUT);

  it('works at phone width (390 px): the list and the controls dialog fit, nothing scrolls sideways', async () => {
    await screenshot(page, 'desktop-key-controls-list');
    const phone = await browser.newContext(PHONE);
    try {
      const phonePage = await phone.newPage();
      await signIn(phonePage);
      const row = phonePage.locator(`tr[data-key-id="${partner.id}"]`);
      // Every action button and control badge of every row is on screen (the card clips what runs over).
      const boxes = await phonePage.locator('#keys-table .key-actions button, #keys-table .controls-summary li').evaluateAll((nodes: any[]) =>
        nodes.map((node) => node.getBoundingClientRect()).map((rect: any) => ({ left: rect.left, right: rect.right })),
      );
      expect(boxes.length).toBeGreaterThanOrEqual(10);
      for (const box of boxes) expect([box.left >= 0, box.right <= 390 - 16]).toEqual([true, true]);
      await row.getByRole('button', { name: 'Controls of key partner' }).click();
      const dialog = phonePage.locator('#controls-dialog');
      await dialog.waitFor({ state: 'visible' });
      const box = (await dialog.boundingBox())!;
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
      for (const id of ['ctl-rateLimit', 'ctl-cap-remaining', 'ctl-cap-interval', 'ctl-cap-amount', 'ctl-ipAllowlist', 'controls-save']) {
        const field = (await phonePage.locator(`#${id}`).boundingBox())!;
        expect(field.x).toBeGreaterThanOrEqual(0);
        expect(field.x + field.width).toBeLessThanOrEqual(390);
      }
      expect(await phonePage.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await phonePage.screenshot({ path: `${ARTIFACTS}phone-key-controls.png` });
      await phonePage.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      expect(await phonePage.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      await screenshot(phonePage, 'phone-key-controls-list');
    } finally {
      await phone.close();
    }
  }, TIMEOUT);
});
