/* global document, window, fetch, navigator, location, history, Node, URLSearchParams, setTimeout, clearTimeout */
// Tollgate developer portal. Plain JavaScript served by the service itself: no framework, no CDN, no build step.
// Every value from the server goes into the page as text (textContent), never as HTML.

const API = '/portal/api';
const state = { session: null, csrf: null, overview: null, keys: null, loginToken: null, polling: null };

const $ = (id) => document.getElementById(id);

/** el('p', { class: 'muted', text: 'hi' }, child, …): builds an element; strings become text nodes. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// ---------------------------------------------------------------------------------------------------------
// Formatting. Money is shown exactly as the API sends it (decimal strings), with a currency sign in front.

const numbers = new Intl.NumberFormat('en-US');
const count = (value) => (value === null || value === undefined ? '—' : numbers.format(value));
const SIGNS = { usd: '$', eur: '€', gbp: '£', cad: 'CA$', aud: 'A$', jpy: '¥', chf: 'CHF ' };

function money(amount, currency) {
  const sign = SIGNS[String(currency || '').toLowerCase()];
  if (!sign) return `${amount} ${String(currency || '').toUpperCase()}`.trim();
  return amount.startsWith('-') ? `-${sign}${amount.slice(1)}` : `${sign}${amount}`;
}

const utcDay = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });
const utcDate = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
const localDateTime = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });

/** A half-open period [start, end) as "Nov 1 – Nov 30, 2026". */
function periodText(period) {
  const start = new Date(period.start);
  const last = new Date(new Date(period.end).getTime() - 1);
  return `${utcDay.format(start)} – ${utcDate.format(last)}`;
}

function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  if (seconds >= 0 && seconds < 60) return 'just now';
  if (seconds >= 0 && seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds >= 0 && seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 0 && seconds > -3600) return `in ${Math.ceil(-seconds / 60)} min`;
  if (seconds < 0 && seconds > -86400) return `in ${Math.round(-seconds / 3600)} h`;
  return localDateTime.format(date);
}

function meterLabel(meter) {
  if (meter === 'api_calls') return 'API calls';
  const text = meter.replace(/[_-]+/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function meterUnit(meter, quantity) {
  const definition = (state.overview?.meters || []).find((candidate) => candidate.name === meter);
  const unit = meter === 'api_calls' ? 'call' : definition?.unit || 'unit';
  return quantity === 1 ? unit : `${unit}s`;
}

const capitalize = (text) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : text);

// ---------------------------------------------------------------------------------------------------------
// The API. State-changing calls carry the session's CSRF token; a 401 means the session is gone.

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The request failed (${status}).`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['x-csrf-token'] = state.csrf;
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, { message: 'Could not reach the server. Check your connection and try again.' });
  }
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && state.session) sessionEnded('Your session has ended. Sign in again.');
    throw error;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------------------
// Views and messages

const VIEWS = ['loading', 'sign-in', 'finish-sign-in', 'dashboard'];

function show(view) {
  for (const id of VIEWS) $(id).hidden = id !== view;
  const signedIn = view === 'dashboard';
  $('account-bar').hidden = !signedIn;
  $('section-nav').hidden = !signedIn;
}

let flashTimer = null;

function flash(message, kind = 'success') {
  const box = $('flash');
  clearTimeout(flashTimer);
  box.className = `flash${kind === 'success' ? '' : ` flash-${kind}`}`;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.textContent = message;
  box.hidden = false;
  if (kind === 'success') flashTimer = setTimeout(() => (box.hidden = true), 10000);
}

function clearFlash() {
  clearTimeout(flashTimer);
  $('flash').hidden = true;
}

function fieldError(id, message, input) {
  const box = $(id);
  box.textContent = message || '';
  box.hidden = !message;
  if (input) {
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

function busy(button, text) {
  const original = button.textContent;
  button.disabled = true;
  if (text) button.textContent = text;
  return () => {
    button.disabled = false;
    button.textContent = original;
  };
}

/** A modal confirmation (native <dialog>: focus trap, Escape closes). Resolves to the confirm flag and extra fields. */
function confirmDialog({ title, text, confirmLabel, danger = true, extra = null }) {
  const dialog = $('confirm-dialog');
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  const extraBox = $('confirm-extra');
  extraBox.replaceChildren(...(extra ? [extra] : []));
  const ok = $('confirm-ok');
  ok.textContent = confirmLabel;
  ok.className = `button ${danger ? 'button-danger' : 'button-primary'}`;
  dialog.returnValue = 'cancel';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
    dialog.showModal();
  });
}

async function copy(input, status) {
  const value = input.value;
  try {
    await navigator.clipboard.writeText(value);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  status.textContent = 'Copied to the clipboard.';
}

function revealSecret(panel, input, status, secret, note) {
  input.value = secret;
  status.textContent = '';
  if (note) $('secret-note').textContent = note;
  panel.hidden = false;
  panel.focus();
}

// ---------------------------------------------------------------------------------------------------------
// Signing in and out

function showSignIn(message, kind = 'info') {
  state.session = null;
  state.csrf = null;
  show('sign-in');
  if (message) flash(message, kind);
}

function sessionEnded(message) {
  stopPolling();
  state.overview = null;
  state.keys = null;
  $('secret-panel').hidden = true;
  $('signing-panel').hidden = true;
  showSignIn(message, 'info');
}

async function enter(session) {
  state.session = session;
  state.csrf = session.csrfToken;
  await refresh();
  show('dashboard');
}

async function onKeySignIn(event) {
  event.preventDefault();
  const input = $('api-key');
  const apiKey = input.value.trim();
  if (!apiKey) {
    fieldError('key-error', 'Enter one of your API keys.', input);
    input.focus();
    return;
  }
  fieldError('key-error', '', input);
  const done = busy(event.submitter || event.target.querySelector('button'), 'Signing in…');
  try {
    const session = await api('POST', '/login', { apiKey });
    input.value = '';
    clearFlash();
    await enter(session);
    $('dashboard-title').focus();
  } catch (error) {
    fieldError('key-error', error.status === 401 ? error.message : `Could not sign in: ${error.message}`, input);
    input.focus();
  } finally {
    done();
  }
}

async function onEmailSignIn(event) {
  event.preventDefault();
  const input = $('email');
  const email = input.value.trim();
  $('email-status').hidden = true;
  if (!email || !input.checkValidity()) {
    fieldError('email-error', 'Enter the email address of your account.', input);
    input.focus();
    return;
  }
  fieldError('email-error', '', input);
  const done = busy(event.submitter || event.target.querySelector('button'), 'Sending…');
  try {
    const answer = await api('POST', '/login/email', { email });
    const status = $('email-status');
    status.textContent = answer.message;
    status.hidden = false;
  } catch (error) {
    fieldError('email-error', error.message, input);
  } finally {
    done();
  }
}

async function onFinishSignIn() {
  const button = $('finish-button');
  const done = busy(button, 'Signing in…');
  try {
    const session = await api('POST', '/login/email/complete', { token: state.loginToken });
    state.loginToken = null;
    await enter(session);
    $('dashboard-title').focus();
  } catch (error) {
    $('finish-error').textContent = error.message;
    $('finish-error').hidden = false;
    done();
  }
}

async function onSignOut() {
  try {
    await api('POST', '/logout');
  } catch {
    // Signed out either way: the session is gone or will expire.
  }
  sessionEnded('You are signed out.');
}

// ---------------------------------------------------------------------------------------------------------
// Rendering

async function refresh() {
  const [overview, keys] = await Promise.all([api('GET', '/overview'), api('GET', '/keys')]);
  state.overview = overview;
  state.keys = keys;
  render();
}

async function refreshKeys() {
  state.keys = await api('GET', '/keys');
  renderKeys();
}

function render() {
  const { account, plan, usage } = state.overview;
  $('account-name').textContent = account.name;
  $('dashboard-title').textContent = account.name;
  $('dashboard-title').setAttribute('tabindex', '-1');
  $('period-line').textContent = `${plan.label} plan · billing period ${periodText(usage.period)}`;
  const badge = $('status-badge');
  badge.hidden = account.status === 'active';
  badge.textContent = account.status === 'past_due' ? 'Payment past due' : capitalize(account.status);
  badge.className = `badge ${account.status === 'past_due' ? 'badge-warning' : 'badge-neutral'}`;
  renderStats();
  renderUsage();
  renderPlan();
  renderInvoice();
  renderNotifications();
  renderKeys();
  if (!$('new-key-controls-fields').childElementCount) renderNewKeyControls();
  renderTiers();
  renderWebhooks();
}

const WINDOW_SHORT = { 1: 'sec', 60: 'min', 3600: 'hour', 86400: 'day' };

/** [{ limit: 100, windowSeconds: 60 }] → "100 / min". */
function shortRate(policies) {
  if (!policies.length) return 'None';
  return policies.map((policy) => `${count(policy.limit)} / ${WINDOW_SHORT[policy.windowSeconds] || `${count(policy.windowSeconds)} s`}`).join(' · ');
}

function renderStats() {
  const { plan, usage, invoice, limits } = state.overview;
  const calls = usage.meters.find((meter) => meter.meter === 'api_calls') || usage.meters[0];
  const stat = (id, label, value, detail) =>
    el('li', { class: 'stat', id }, el('p', { class: 'stat-label', text: label }), el('p', { class: 'stat-value', text: value }), el('p', { class: 'stat-detail', text: detail }));
  $('stats').replaceChildren(
    stat('stat-plan', 'Plan', plan.label, plan.effective.price === 'Free' ? `${plan.effective.includedCalls} included` : plan.effective.price),
    stat(
      'stat-usage',
      `${calls ? meterLabel(calls.meter) : 'Usage'} this period`,
      calls ? count(calls.total) : '0',
      calls && calls.included !== null ? `of ${count(calls.included)} included · ${count(calls.remaining)} left` : 'No included quota',
    ),
    stat('stat-rate', 'Rate limit', shortRate(limits.rateLimits), `${plan.effective.rateLimit}, shared by all your keys`),
    stat('stat-invoice', 'Projected invoice', money(invoice.total, invoice.currency), `Period ends ${utcDate.format(new Date(new Date(invoice.period.end).getTime() - 1))}`),
  );
}

function periodDays(period) {
  const days = [];
  const start = new Date(period.start);
  const end = new Date(period.end);
  for (let day = Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate()); day < end.getTime(); day += 86400000) {
    days.push(new Date(day).toISOString().slice(0, 10));
    if (days.length > 62) break;
  }
  return days;
}

function renderChart(meter, period, daily) {
  const today = new Date().toISOString().slice(0, 10);
  // Quantities are JSON numbers, or decimal strings past 2^53: BigInt keeps the sums exact; bar heights are ratios.
  const byDay = new Map(daily.filter((point) => point.meter === meter).map((point) => [point.date, BigInt(point.quantity)]));
  const on = (date) => byDay.get(date) || 0n;
  const days = periodDays(period);
  const peak = days.reduce((most, date) => (on(date) > most ? on(date) : most), 0n);
  const scale = Number(peak || 1n);
  const label = (date) => utcDay.format(new Date(`${date}T00:00:00Z`));
  const total = days.reduce((sum, date) => sum + on(date), 0n);
  const peakDay = days.find((date) => on(date) === peak && peak > 0n);
  const summary = `${meterLabel(meter)} per day, ${label(days[0])} to ${label(days[days.length - 1])}: ${count(total)} in total${peakDay ? `, highest ${count(peak)} on ${label(peakDay)}` : ''}.`;
  const bars = days.map((date) => {
    const quantity = on(date);
    const bar = el('div', {
      class: `chart-bar${quantity === 0n ? ' zero' : ''}${date > today ? ' future' : ''}${date === today ? ' today' : ''}`,
      title: `${label(date)}: ${count(quantity)} ${meterUnit(meter, Number(quantity))}`,
      dataset: { date, quantity: String(quantity) },
    });
    bar.style.height = `${(Number(quantity) / scale) * 100}%`;
    return bar;
  });
  if (peak === 0n) return [el('p', { class: 'empty chart-empty', text: `No ${meterLabel(meter).toLowerCase().replace('api', 'API')} recorded yet this period.` })];
  const middle = days[Math.floor((days.length - 1) / 2)];
  const chart = el(
    'div',
    { class: 'chart' },
    el(
      'div',
      { class: 'chart-frame', role: 'img', 'aria-label': summary },
      el('div', { class: 'chart-axis', 'aria-hidden': 'true' }, el('span', { text: count(peak) }), el('span', { text: peak % 2n === 0n ? count(peak / 2n) : '' }), el('span', { text: '0' })),
      el('div', { class: 'chart-bars' }, bars),
      el('div', { class: 'chart-labels', 'aria-hidden': 'true' }, el('span', { text: label(days[0]) }), el('span', { text: label(middle) }), el('span', { text: label(days[days.length - 1]) })),
    ),
  );
  const rows = days.filter((date) => date <= today || byDay.has(date));
  const table = el(
    'details',
    {},
    el('summary', { text: 'Show the daily numbers' }),
    el(
      'div',
      { class: 'table-wrap' },
      el(
        'table',
        {},
        el('caption', { class: 'visually-hidden', text: `${meterLabel(meter)} per day` }),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Day' }), el('th', { scope: 'col', class: 'num', text: meterLabel(meter) }))),
        el(
          'tbody',
          {},
          rows.map((date) => el('tr', {}, el('th', { scope: 'row', text: label(date) }), el('td', { class: 'num', text: count(on(date)) }))),
        ),
      ),
    ),
  );
  return [chart, table];
}

function renderUsage() {
  const { usage } = state.overview;
  $('usage-period').textContent = `${periodText(usage.period)} (UTC). Counts include every successful metered request.`;
  const meters = usage.meters.map((meter) => {
    const percent = meter.percentUsed;
    const fill = el('div', { class: `progress-fill${percent !== null && percent > 100 ? ' over' : ''}` });
    fill.style.width = `${Math.min(100, percent || 0)}%`;
    const figure = (field, label, value) => el('div', {}, el('dt', { text: label }), el('dd', { dataset: { field }, text: value }));
    return el(
      'article',
      { class: 'meter', dataset: { meter: meter.meter } },
      el(
        'div',
        { class: 'meter-head' },
        el('h3', { text: meterLabel(meter.meter) }),
        el('span', { class: 'muted small', text: percent === null ? 'No included quota' : `${percent}% of included used` }),
      ),
      el(
        'dl',
        { class: 'meter-figures' },
        figure('total', 'Used', count(meter.total)),
        figure('included', 'Included', meter.included === null ? '—' : count(meter.included)),
        figure('remaining', 'Remaining', meter.remaining === null ? '—' : count(meter.remaining)),
        figure('overage', 'Overage', count(meter.overage)),
      ),
      percent === null
        ? null
        : el(
            'div',
            {
              class: 'progress',
              role: 'progressbar',
              'aria-label': `${meterLabel(meter.meter)}: share of included quota used`,
              'aria-valuemin': '0',
              'aria-valuemax': '100',
              'aria-valuenow': String(Math.min(100, percent)),
              'aria-valuetext': `${percent}%`,
            },
            fill,
          ),
      renderChart(meter.meter, usage.period, usage.daily),
    );
  });
  $('usage-meters').replaceChildren(...meters);
}

function renderPlan() {
  const { plan, account } = state.overview;
  const fact = (label, value) => el('div', {}, el('dt', { text: label }), el('dd', {}, value));
  $('plan-body').replaceChildren(
    el('div', { class: 'plan-name' }, el('strong', { id: 'plan-tier', dataset: { tier: account.tier }, text: plan.label }), el('span', { class: 'plan-price', text: plan.effective.price === 'Free' ? 'No monthly fee' : plan.effective.price })),
    el(
      'dl',
      { class: 'facts' },
      fact('Included calls', plan.effective.includedCalls),
      fact('Rate limit', plan.effective.rateLimit),
      fact('Overage', plan.overage),
      fact('When included calls run out', plan.effective.whenQuotaIsUsed),
      fact('Endpoints', el('ul', { class: 'endpoint-list' }, plan.endpoints.map((endpoint) => el('li', {}, el('code', { text: endpoint }))))),
      plan.support ? fact('Support', plan.support) : null,
      plan.sla ? fact('SLA', plan.sla) : null,
      plan.meters.map((meter) => fact(`${meterLabel(meter.meter)} included`, `${meter.included}; then ${meter.overage}`)),
    ),
    el('p', { class: 'small' }, el('a', { href: '#upgrade', text: 'Compare plans' })),
  );
}

function renderInvoice() {
  const { invoice } = state.overview;
  $('invoice-note').textContent = `If the period ended now: base price plus overage so far, for ${periodText(invoice.period)}.`;
  if (invoice.lines.length === 0) {
    $('invoice-body').replaceChildren(el('p', { class: 'empty', text: 'Nothing billed so far this period.' }), el('p', { class: 'stat-value', id: 'invoice-total', text: money(invoice.total, invoice.currency) }));
    return;
  }
  $('invoice-body').replaceChildren(
    el(
      'div',
      { class: 'table-wrap' },
      el(
        'table',
        { id: 'invoice-table' },
        el('caption', { class: 'visually-hidden', text: 'Projected invoice lines' }),
        el(
          'thead',
          {},
          el('tr', {}, el('th', { scope: 'col', text: 'Item' }), el('th', { scope: 'col', class: 'num', text: 'Qty' }), el('th', { scope: 'col', class: 'num', text: 'Unit price' }), el('th', { scope: 'col', class: 'num', text: 'Amount' })),
        ),
        el(
          'tbody',
          {},
          invoice.lines.map((line) =>
            el(
              'tr',
              {},
              el('td', { text: capitalize(line.description) }),
              el('td', { class: 'num', text: count(line.quantity) }),
              el('td', { class: 'num', text: line.unitPrice === null ? '—' : money(line.unitPrice, invoice.currency) }),
              el('td', { class: 'num', text: money(line.amount, invoice.currency) }),
            ),
          ),
        ),
        el('tfoot', {}, el('tr', {}, el('th', { scope: 'row', colspan: '3', text: 'Total' }), el('td', { class: 'num', id: 'invoice-total', text: money(invoice.total, invoice.currency) }))),
      ),
    ),
  );
}

const DELIVERY_BADGE = { delivered: 'badge-success', pending: 'badge-neutral', dead: 'badge-danger' };

function renderNotifications() {
  const { notifications } = state.overview;
  if (notifications.length === 0) {
    $('notifications-body').replaceChildren(el('p', { class: 'empty', text: 'No notifications yet. Usage alerts, plan changes and key changes appear here.' }));
    return;
  }
  $('notifications-body').replaceChildren(
    el(
      'ol',
      { class: 'notification-list' },
      notifications.map((notification) =>
        el(
          'li',
          {},
          el('div', { class: 'notification-head' }, el('strong', { text: notification.subject }), el('time', { datetime: notification.createdAt, text: when(notification.createdAt) })),
          el('p', { text: notification.message }),
          notification.deliveries.length
            ? el(
                'div',
                { class: 'chips' },
                notification.deliveries.map((delivery) =>
                  el('span', { class: `badge ${DELIVERY_BADGE[delivery.status] || 'badge-neutral'}`, text: `${capitalize(delivery.channel)}: ${delivery.status === 'dead' ? 'failed' : delivery.status}` }),
                ),
              )
            : null,
        ),
      ),
    ),
  );
}

function keyStatus(key) {
  if (key.status === 'revoked') return el('span', { class: 'badge badge-danger', text: 'Revoked' });
  if (key.status === 'expired') return el('span', { class: 'badge badge-neutral', text: 'Expired' });
  if (key.replacedBy && key.expiresAt) return el('span', { class: 'badge badge-warning', text: `Rotated · stops ${when(key.expiresAt)}`, title: localDateTime.format(new Date(key.expiresAt)) });
  return el('span', { class: 'badge badge-success', text: 'Active' });
}

// ---------------------------------------------------------------------------------------------------------
// Per-key controls. A control the operator set is locked (read-only here, refused by the API); metadata is the
// operator's alone, shown read-only when present. Only changed, unlocked controls are sent: re-sending an unchanged
// usage cap would reset what the key has spent since the page loaded.

const CONTROL_LABELS = { rateLimit: 'Rate limit', usageCap: 'Usage cap', ipAllowlist: 'IP allowlist', endpoints: 'Endpoints', metadata: 'Metadata' };
const REFILL_WORDS = { day: 'daily', week: 'weekly', month: 'monthly' };
const LOCKED_NOTE = 'Set by your API provider: only they can change or remove it.';
const MAX_UNITS = Number.MAX_SAFE_INTEGER;

const listText = (items) => (items ? items.join(', ') : '');
const splitList = (text) => text.split(/[\s,]+/).filter(Boolean);

function capText(cap) {
  const left = `${count(cap.remaining)} left`;
  return cap.refill ? `${left}, refilled to ${count(cap.refill.amount)} ${REFILL_WORDS[cap.refill.interval] ?? cap.refill.interval}` : left;
}

function controlText(name, value) {
  if (name === 'rateLimit') return listText(value);
  if (name === 'usageCap') return capText(value);
  if (name === 'ipAllowlist') return `${value.length === 1 ? value[0] : `${value.length} addresses`}`;
  if (name === 'endpoints') return `${value.length === 1 ? value[0] : `${value.length} endpoints`}`;
  return 'set';
}

/** The key row's summary: one badge per control that is set, "(locked)" on the operator's. */
function controlsSummary(key) {
  const controls = key.controls ?? {};
  const locked = key.lockedControls ?? [];
  const set = Object.keys(CONTROL_LABELS).filter((name) => controls[name] !== null && controls[name] !== undefined);
  if (!set.length) return el('span', { class: 'muted', text: 'None' });
  return el(
    'ul',
    { class: 'controls-summary' },
    set.map((name) =>
      el('li', { class: `badge ${locked.includes(name) ? 'badge-warning' : 'badge-neutral'}`, dataset: { control: name }, title: locked.includes(name) ? LOCKED_NOTE : null }, `${CONTROL_LABELS[name]}: ${controlText(name, controls[name])}${locked.includes(name) ? ' (locked)' : ''}`),
    ),
  );
}

function lockedControl(name, value) {
  const shown = value === null || value === undefined ? 'Not set' : name === 'metadata' ? JSON.stringify(value, null, 2) : name === 'usageCap' ? capText(value) : value.join('\n');
  return el(
    'div',
    { class: 'control control-locked', dataset: { control: name, locked: 'true' }, role: 'group', 'aria-labelledby': `ctl-${name}-title` },
    el('p', { class: 'control-title' }, el('strong', { id: `ctl-${name}-title`, text: CONTROL_LABELS[name] }), ' ', el('span', { class: 'badge badge-warning', text: 'Locked' })),
    name === 'metadata' ? el('pre', { class: 'mono', text: shown }) : el('p', { class: 'control-value mono', text: shown }),
    el('p', { class: 'help', text: name === 'metadata' ? 'Set by your API provider and passed to the services behind it; only they can change it.' : LOCKED_NOTE }),
  );
}

function textControl(name, { multiline, value, help, placeholder, prefix = 'ctl', errorId = 'controls-error' }) {
  const id = `${prefix}-${name}`;
  const props = { id, name, autocomplete: 'off', spellcheck: 'false', placeholder, 'aria-describedby': `${id}-help ${errorId}` };
  const input = multiline ? el('textarea', { ...props, rows: '3' }) : el('input', { ...props, type: 'text' });
  input.value = multiline ? (value ?? []).join('\n') : listText(value);
  return el('div', { class: 'control', dataset: { control: name } }, el('label', { for: id, text: CONTROL_LABELS[name] }), input, el('p', { class: 'help', id: `${id}-help`, text: help }));
}

function usageCapControl(cap, prefix = 'ctl', errorId = 'controls-error') {
  const refill = cap?.refill ?? null;
  const remaining = el('input', { id: `${prefix}-cap-remaining`, type: 'text', inputmode: 'numeric', autocomplete: 'off', 'aria-describedby': `${prefix}-usageCap-help ${errorId}` });
  remaining.value = cap ? String(cap.remaining) : '';
  const amount = el('input', { id: `${prefix}-cap-amount`, type: 'text', inputmode: 'numeric', autocomplete: 'off', 'aria-describedby': `${prefix}-usageCap-help ${errorId}` });
  amount.value = refill ? String(refill.amount) : '';
  const interval = el(
    'select',
    { id: `${prefix}-cap-interval` },
    el('option', { value: '', text: 'Never' }),
    ['day', 'week', 'month'].map((value) => el('option', { value, text: `Every ${value} (UTC)` })),
  );
  interval.value = refill ? refill.interval : '';
  return el(
    'fieldset',
    { class: 'control', dataset: { control: 'usageCap' }, 'aria-describedby': `${prefix}-usageCap-help` },
    el('legend', { text: CONTROL_LABELS.usageCap }),
    el(
      'div',
      { class: 'control-row' },
      el('div', {}, el('label', { for: `${prefix}-cap-remaining`, text: 'Units left' }), remaining),
      el('div', {}, el('label', { for: `${prefix}-cap-interval`, text: 'Refill' }), interval),
      el('div', {}, el('label', { for: `${prefix}-cap-amount`, text: 'Refill to' }), amount),
    ),
    el('p', { class: 'help', id: `${prefix}-usageCap-help`, text: 'Each request spends its cost; at zero the key gets 429 until the next refill. Leave “Units left” empty for no cap.' }),
  );
}

/** The form's value of each unlocked control (null: remove), or a problem in words with the field to fix. */
function readControls(names, prefix = 'ctl') {
  const values = {};
  for (const name of names) {
    if (name === 'usageCap') {
      const remainingInput = $(`${prefix}-cap-remaining`);
      const amountInput = $(`${prefix}-cap-amount`);
      const intervalInput = $(`${prefix}-cap-interval`);
      const remaining = remainingInput.value.trim();
      const amount = amountInput.value.trim();
      const interval = intervalInput.value;
      if (!remaining) {
        if (amount || interval) return { problem: 'Give the units left, or clear the refill to remove the cap.', field: remainingInput };
        values.usageCap = null;
        continue;
      }
      if (!/^\d+$/.test(remaining) || Number(remaining) > MAX_UNITS) return { problem: 'Units left must be a whole number, 0 or more.', field: remainingInput };
      if (interval && (!/^\d+$/.test(amount) || Number(amount) > MAX_UNITS)) return { problem: 'Refill to must be a whole number, 0 or more.', field: amountInput };
      if (!interval && amount) return { problem: 'Choose how often the cap refills, or clear “Refill to”.', field: intervalInput };
      values.usageCap = { remaining: Number(remaining), refill: interval ? { amount: Number(amount), interval } : null };
    } else {
      const items = splitList($(`${prefix}-${name}`).value);
      values[name] = items.length ? items : null;
    }
  }
  return { values };
}

/** An API refusal, in words: validation problems by field, locked controls by name. */
function controlsErrorText(error) {
  const body = error.body ?? {};
  if (body.error === 'validation_failed' && Array.isArray(body.details) && body.details.length) {
    return `Please fix: ${body.details.map((detail) => `${detail.field.replace(/^controls\./, '')} ${detail.problems.join(', ')}`).join('; ')}.`;
  }
  if (body.error === 'control_locked') {
    const names = (body.controls ?? []).map((name) => CONTROL_LABELS[name] ?? name).join(', ');
    return `${names ? `${names}: ` : ''}${body.message} Ask your API provider to change it.`;
  }
  if (body.error === 'rate_limit_not_held') return `${body.message} Choose a lower limit.`;
  return error.message;
}

function controlsProblem(message, field) {
  const box = $('controls-error');
  box.textContent = message || '';
  box.hidden = !message;
  for (const input of $('controls-fields').querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

const EDITABLE_CONTROLS = ['rateLimit', 'usageCap', 'ipAllowlist', 'endpoints'];

/** The input(s) of one control a key holder may set, filled with its value; `prefix` keeps ids apart (dialog / create form). */
function controlField(name, value, prefix = 'ctl', errorId = 'controls-error') {
  if (name === 'usageCap') return usageCapControl(value, prefix, errorId);
  if (name === 'rateLimit') {
    const accountRate = state.overview?.limits.rateLimits.length ? shortRate(state.overview.limits.rateLimits) : null;
    return textControl(name, {
      prefix,
      errorId,
      value,
      placeholder: 'e.g. 10/min',
      help: `Up to 5, comma-separated, like 10/min or 100/hour, 5000/day; no faster than your account's${accountRate ? ` (${accountRate})` : ''}. Empty: the account's limit only.`,
    });
  }
  if (name === 'ipAllowlist') {
    return textControl(name, { prefix, errorId, multiline: true, value, placeholder: '203.0.113.0/24', help: 'One IPv4 or IPv6 address or CIDR per line (up to 50). Requests from other addresses get 403. Empty: any address.' });
  }
  return textControl(name, { prefix, errorId, multiline: true, value, placeholder: '/v1/search/**', help: 'One path per line (up to 50); * matches one segment, ** any number. Empty: every endpoint of your plan.' });
}

/** The create form's optional controls, empty. */
function renderNewKeyControls() {
  $('new-key-controls-fields').replaceChildren(...EDITABLE_CONTROLS.map((name) => controlField(name, null, 'new', 'create-key-error')));
}

function editControls(key) {
  const dialog = $('controls-dialog');
  const controls = key.controls ?? {};
  const locked = key.lockedControls ?? [];
  const editable = EDITABLE_CONTROLS.filter((name) => !locked.includes(name));
  const fields = EDITABLE_CONTROLS.map((name) => (locked.includes(name) ? lockedControl(name, controls[name]) : controlField(name, controls[name] ?? null)));
  if (controls.metadata) fields.push(lockedControl('metadata', controls.metadata));
  $('controls-title').textContent = `Controls of key “${key.name}”`;
  $('controls-fields').replaceChildren(...fields);
  $('controls-save').hidden = editable.length === 0;
  controlsProblem('');
  const form = $('controls-form');
  const onSubmit = async (event) => {
    event.preventDefault();
    const { values, problem, field } = readControls(editable);
    if (problem) return controlsProblem(problem, field);
    const changed = Object.fromEntries(Object.entries(values).filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(controls[name] ?? null)));
    if (!Object.keys(changed).length) return dialog.close();
    controlsProblem('');
    const done = busy($('controls-save'), 'Saving…');
    try {
      await api('PATCH', `/keys/${encodeURIComponent(key.id)}`, { controls: changed });
      dialog.close();
      flash(`Controls of key “${key.name}” saved.`);
      await refreshKeys();
    } catch (error) {
      if (error.status === 401) return dialog.close();
      controlsProblem(controlsErrorText(error));
    } finally {
      done();
    }
  };
  form.addEventListener('submit', onSubmit);
  dialog.addEventListener('close', () => form.removeEventListener('submit', onSubmit), { once: true });
  dialog.showModal();
}

function keyRow(key, sessionKeyId) {
  const usable = key.status === 'active';
  const mine = key.id === sessionKeyId;
  return el(
    'tr',
    { class: key.status === 'revoked' ? 'revoked' : null, dataset: { keyId: key.id } },
    el('td', { 'data-label': 'Name' }, el('span', { class: 'key-name', text: key.name }), mine ? [' ', el('span', { class: 'badge', text: 'This session' })] : null),
    el('td', { 'data-label': 'Key' }, el('span', { class: 'mono', text: `${key.prefix}…` })),
    el('td', { 'data-label': 'Mode', text: capitalize(key.mode) }),
    el('td', { 'data-label': 'Status' }, keyStatus(key)),
    el('td', { 'data-label': 'Created', text: when(key.createdAt) }),
    el('td', { 'data-label': 'Last used', text: key.lastUsedAt ? when(key.lastUsedAt) : 'Never' }),
    el('td', { 'data-label': 'Controls', class: 'key-controls-cell' }, controlsSummary(key)),
    el(
      'td',
      { class: 'key-actions-cell' },
      usable
        ? el(
            'div',
            { class: 'key-actions' },
            el('button', { type: 'button', class: 'button button-small', 'aria-label': `Rename key ${key.name}`, dataset: { action: 'rename' }, onclick: () => renameKey(key), text: 'Rename' }),
            el('button', { type: 'button', class: 'button button-small', 'aria-label': `Controls of key ${key.name}`, dataset: { action: 'controls' }, onclick: () => editControls(key), text: 'Controls' }),
            el('button', { type: 'button', class: 'button button-small', 'aria-label': `Rotate key ${key.name}`, dataset: { action: 'rotate' }, onclick: () => rotateKey(key), text: 'Rotate' }),
            el('button', { type: 'button', class: 'button button-small button-danger-quiet', 'aria-label': `Revoke key ${key.name}`, dataset: { action: 'revoke' }, onclick: () => revokeKey(key, mine), text: 'Revoke' }),
          )
        : null,
    ),
  );
}

function keysTable(keys, sessionKeyId, caption, id) {
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      { class: 'keys-table', id },
      el('caption', { class: 'visually-hidden', text: caption }),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['Name', 'Key', 'Mode', 'Status', 'Created', 'Last used', 'Controls'].map((title) => el('th', { scope: 'col', text: title })),
          el('th', { scope: 'col' }, el('span', { class: 'visually-hidden', text: 'Actions' })),
        ),
      ),
      el('tbody', {}, keys.map((key) => keyRow(key, sessionKeyId))),
    ),
  );
}

function renderKeys() {
  const { data, sessionKeyId } = state.keys;
  const current = data.filter((key) => key.status !== 'revoked');
  const revoked = data.filter((key) => key.status === 'revoked');
  const parts = [current.length ? keysTable(current, sessionKeyId, 'Your API keys', 'keys-table') : el('p', { class: 'empty', text: 'No active keys. Create one above.' })];
  if (revoked.length) {
    parts.push(el('details', { class: 'revoked-keys' }, el('summary', { text: `Revoked keys (${revoked.length})` }), keysTable(revoked, sessionKeyId, 'Revoked API keys', 'revoked-keys-table')));
  }
  // Key lists come in pages (newest first): older keys load on request.
  if (state.keys.nextCursor) {
    parts.push(el('p', {}, el('button', { type: 'button', class: 'button button-small', id: 'more-keys', onclick: (event) => loadMoreKeys(event.currentTarget), text: 'Show older keys' })));
  }
  $('keys-body').replaceChildren(...parts);
}

async function loadMoreKeys(button) {
  const done = busy(button, 'Loading…');
  try {
    const page = await api('GET', `/keys?cursor=${encodeURIComponent(state.keys.nextCursor)}`);
    state.keys = { ...page, data: [...state.keys.data, ...page.data] };
    renderKeys();
  } catch (error) {
    done();
    if (error.status !== 401) flash(`Could not load more keys: ${error.message}`, 'error');
  }
}

const ROW_LABELS = [
  ['price', 'Price'],
  ['includedCalls', 'Included API calls'],
  ['rateLimit', 'Rate limit'],
  ['overage', 'Beyond the included calls'],
  ['whenQuotaIsUsed', 'When included calls run out'],
  ['endpoints', 'Endpoints'],
  ['support', 'Support'],
  ['sla', 'SLA'],
];

function tierAction(tier) {
  switch (tier.action) {
    case 'current':
      return el('span', { class: 'badge', text: 'Your plan' });
    case 'upgrade':
      return el('button', { type: 'button', class: 'button button-primary', dataset: { upgrade: tier.name }, onclick: (event) => upgrade(tier, event.currentTarget), text: `Upgrade to ${tier.label}` });
    case 'contact_sales':
      return el('span', { class: 'muted', text: 'Contact sales' });
    case 'unavailable':
      return el('span', { class: 'muted', text: 'Ask your provider to change plans' });
    default:
      return null;
  }
}

function renderTiers() {
  const { tiers, billing } = state.overview;
  $('upgrade-note').textContent = billing.stripeEnabled
    ? 'Upgrades are paid through Stripe Checkout; your plan changes as soon as Stripe confirms the subscription.'
    : 'Online upgrades are not enabled on this server.';
  const rows = ROW_LABELS.filter(([field]) => tiers.some((tier) => tier[field] !== null && !(Array.isArray(tier[field]) && tier[field].length === 0))).map(([field, label]) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row', text: label }),
      tiers.map((tier) => {
        const value = tier[field];
        const content = Array.isArray(value)
          ? el('ul', { class: 'endpoint-list' }, value.map((item) => el('li', {}, el('code', { text: item }))))
          : el('span', { class: field === 'price' ? 'tier-price' : null, text: value === null ? '—' : value });
        return el('td', { class: tier.action === 'current' ? 'current' : null }, content);
      }),
    ),
  );
  const meterNames = [...new Set(tiers.flatMap((tier) => tier.meters.map((meter) => meter.meter)))];
  const meterRows = meterNames.map((name) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row', text: meterLabel(name) }),
      tiers.map((tier) => {
        const meter = tier.meters.find((candidate) => candidate.meter === name);
        return el('td', { class: tier.action === 'current' ? 'current' : null, text: meter ? `${meter.included}; then ${meter.overage}` : '—' });
      }),
    ),
  );
  // Narrow screens get one card per plan instead of the table (CSS shows one or the other).
  const cards = el(
    'ul',
    { class: 'tier-cards', 'aria-label': 'Plans' },
    tiers.map((tier) =>
      el(
        'li',
        { class: `tier-card${tier.action === 'current' ? ' current' : ''}`, dataset: { tier: tier.name } },
        el(
          'div',
          { class: 'tier-card-head' },
          el('h3', {}, tier.label, tier.action === 'current' ? [' ', el('span', { class: 'badge', text: 'Your plan' })] : null),
          el('span', { class: 'tier-price', text: tier.price }),
        ),
        el(
          'dl',
          { class: 'facts' },
          ROW_LABELS.filter(([field]) => field !== 'price' && tier[field] !== null && !(Array.isArray(tier[field]) && tier[field].length === 0)).map(([field, label]) =>
            el(
              'div',
              {},
              el('dt', { text: label }),
              el('dd', {}, Array.isArray(tier[field]) ? el('ul', { class: 'endpoint-list' }, tier[field].map((item) => el('li', {}, el('code', { text: item })))) : tier[field]),
            ),
          ),
          tier.meters.map((meter) => el('div', {}, el('dt', { text: meterLabel(meter.meter) }), el('dd', { text: `${meter.included}; then ${meter.overage}` }))),
        ),
        tier.action === 'current' ? null : el('div', { class: 'tier-card-action' }, tierAction(tier)),
      ),
    ),
  );
  $('tiers-body').replaceChildren(
    cards,
    el(
      'div',
      { class: 'table-wrap tiers-wrap', role: 'region', 'aria-labelledby': 'upgrade-title', tabindex: '0' },
      el(
        'table',
        { class: 'tiers', id: 'tiers-table' },
        el('caption', { class: 'visually-hidden', text: 'Plans compared' }),
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            el('th', { scope: 'col' }, el('span', { class: 'visually-hidden', text: 'Feature' })),
            tiers.map((tier) => el('th', { scope: 'col', class: tier.action === 'current' ? 'current' : null, dataset: { tier: tier.name }, text: tier.label })),
          ),
        ),
        el(
          'tbody',
          {},
          rows,
          meterRows,
          el(
            'tr',
            {},
            el('th', { scope: 'row' }, el('span', { class: 'visually-hidden', text: 'Action' })),
            tiers.map((tier) => el('td', { class: `tier-action${tier.action === 'current' ? ' current' : ''}` }, tierAction(tier))),
          ),
        ),
      ),
    ),
  );
}

function renderWebhooks() {
  const { account } = state.overview;
  const input = $('webhook-url');
  if (document.activeElement !== input) input.value = account.webhookUrl || '';
  $('remove-webhook').hidden = !account.webhookUrl;
  $('signing-state').textContent = account.webhookSecretSet
    ? 'A signing secret is set. Generating a new one replaces it at once.'
    : 'No signing secret yet. Generate one to verify the signatures of our webhooks.';
}

// ---------------------------------------------------------------------------------------------------------
// Actions

async function onCreateKey(event) {
  event.preventDefault();
  const nameInput = $('key-name');
  const name = nameInput.value.trim();
  fieldError('create-key-error', '', nameInput);
  for (const input of $('new-key-controls-fields').querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  const { values, problem, field } = readControls(EDITABLE_CONTROLS, 'new');
  if (problem) {
    $('new-key-controls').open = true;
    fieldError('create-key-error', problem, field);
    return field.focus();
  }
  // On create, an empty field means "not set": only what was filled in is sent.
  const controls = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null));
  const done = busy(event.submitter || event.target.querySelector('button[type="submit"]'), 'Creating…');
  try {
    const issued = await api('POST', '/keys', { ...(name && { name }), mode: $('key-mode').value, ...(Object.keys(controls).length && { controls }) });
    nameInput.value = '';
    renderNewKeyControls();
    $('new-key-controls').open = false;
    revealSecret($('secret-panel'), $('secret-value'), $('copy-status'), issued.secret, `Key “${issued.key.name}” is ready. Copy it now: it is shown only once and cannot be recovered.`);
    await refreshKeys();
  } catch (error) {
    fieldError('create-key-error', controlsErrorText(error), nameInput);
  } finally {
    done();
  }
}

async function renameKey(key) {
  // Enter confirms (in a method="dialog" form the first button, Cancel, would be the implicit submit).
  const onEnter = (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    $('confirm-dialog').close('confirm');
  };
  const input = el('input', { id: 'rename-key-name', type: 'text', maxlength: '100', autocomplete: 'off', value: key.name, onkeydown: onEnter });
  const extra = el('div', {}, el('label', { for: 'rename-key-name', text: 'New name' }), input);
  const confirmed = await confirmDialog({
    title: `Rename key “${key.name}”`,
    text: 'The name is only a label for you: the secret and its limits do not change.',
    confirmLabel: 'Rename key',
    danger: false,
    extra,
  });
  const name = input.value.trim();
  if (!confirmed || name === key.name) return;
  if (!name) return flash('A key needs a name: it was left unchanged.', 'error');
  try {
    const renamed = await api('PATCH', `/keys/${encodeURIComponent(key.id)}`, { name });
    flash(`Key “${key.name}” is now “${renamed.name}”.`);
    await refreshKeys();
  } catch (error) {
    if (error.status !== 401) flash(`Could not rename the key: ${error.message}`, 'error');
  }
}

async function rotateKey(key) {
  const select = el(
    'select',
    { id: 'rotate-grace' },
    el('option', { value: '86400', text: 'for 24 hours' }),
    el('option', { value: '3600', text: 'for 1 hour' }),
    el('option', { value: '0', text: 'no longer (stop it now)' }),
  );
  const extra = el('div', {}, el('label', { for: 'rotate-grace', text: 'Keep the old secret working' }), select);
  const confirmed = await confirmDialog({
    title: `Rotate key “${key.name}”?`,
    text: 'You get a new secret for this key. The old secret keeps working for the time you choose, so you can deploy the new one first.',
    confirmLabel: 'Rotate key',
    danger: false,
    extra,
  });
  if (!confirmed) return;
  try {
    const issued = await api('POST', `/keys/${encodeURIComponent(key.id)}/rotate`, { gracePeriodSeconds: Number(select.value) });
    revealSecret($('secret-panel'), $('secret-value'), $('copy-status'), issued.secret, `New secret for “${issued.key.name}”. Copy it now: it is shown only once and cannot be recovered.`);
    await refreshKeys();
  } catch (error) {
    if (error.status !== 401) flash(`Could not rotate the key: ${error.message}`, 'error');
  }
}

async function revokeKey(key, mine) {
  const confirmed = await confirmDialog({
    title: `Revoke key “${key.name}”?`,
    text: `Requests with this key are refused from now on. This cannot be undone.${mine ? ' You signed in with this key: revoking it also signs you out.' : ''}`,
    confirmLabel: 'Revoke key',
  });
  if (!confirmed) return;
  try {
    await api('DELETE', `/keys/${encodeURIComponent(key.id)}`);
    if (mine) return sessionEnded(`Key “${key.name}” is revoked, and you were signed in with it. Sign in again with another key.`);
    flash(`Key “${key.name}” is revoked.`);
    await refreshKeys();
    $('keys-title').focus();
  } catch (error) {
    if (error.status !== 401) flash(`Could not revoke the key: ${error.message}`, 'error');
  }
}

async function upgrade(tier, button) {
  if (state.overview.account.subscribed) {
    const confirmed = await confirmDialog({
      title: `Upgrade to ${tier.label}?`,
      text: `Your subscription moves to the ${tier.label} plan (${tier.price}) now; Stripe prorates the difference.`,
      confirmLabel: `Upgrade to ${tier.label}`,
      danger: false,
    });
    if (!confirmed) return;
  }
  const done = busy(button, 'Opening checkout…');
  try {
    const answer = await api('POST', '/upgrade', { tier: tier.name });
    if (answer.checkoutUrl) {
      const target = new URL(answer.checkoutUrl);
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new Error('The checkout address is not a web address.');
      window.location.assign(target.href);
      return;
    }
    if (answer.changed === false) {
      // Stripe could not take the payment yet: the plan changes once it is paid (on Stripe's invoice page).
      if (answer.payUrl && /^https?:\/\//i.test(answer.payUrl)) {
        window.location.assign(new URL(answer.payUrl).href);
        return;
      }
      flash(`Your upgrade waits for payment (subscription ${answer.subscriptionStatus}): your plan changes once it is paid.`, 'info');
    } else flash(`You are now on the ${capitalize(answer.tier)} plan.`);
    await refresh();
    done();
  } catch (error) {
    done();
    if (error.status !== 401) flash(`Could not start the upgrade: ${error.message}`, 'error');
  }
}

async function onSaveWebhook(event) {
  event.preventDefault();
  const input = $('webhook-url');
  const url = input.value.trim();
  fieldError('webhook-error', '', input);
  if (url && !/^https?:\/\//i.test(url)) {
    fieldError('webhook-error', 'Enter a full URL starting with https://', input);
    input.focus();
    return;
  }
  await saveWebhook(url || null, event.submitter || event.target.querySelector('button[type="submit"]'));
}

async function saveWebhook(url, button) {
  const input = $('webhook-url');
  const done = busy(button, 'Saving…');
  try {
    const saved = await api('PUT', '/webhook', { url });
    state.overview.account.webhookUrl = saved.webhookUrl;
    input.value = saved.webhookUrl || '';
    renderWebhooks();
    flash(saved.webhookUrl ? 'Webhook URL saved.' : 'Webhook removed: notifications are no longer POSTed.');
  } catch (error) {
    if (error.status !== 401) fieldError('webhook-error', error.message, input);
  } finally {
    done();
  }
}

async function onRotateSigningSecret() {
  if (state.overview.account.webhookSecretSet) {
    const confirmed = await confirmDialog({
      title: 'Generate a new signing secret?',
      text: 'Webhooks are signed with the new secret from now on; the current one stops verifying at once.',
      confirmLabel: 'Generate new secret',
    });
    if (!confirmed) return;
  }
  try {
    const { secret } = await api('POST', '/webhook/secret');
    state.overview.account.webhookSecretSet = true;
    renderWebhooks();
    revealSecret($('signing-panel'), $('signing-value'), $('copy-signing-status'), secret);
  } catch (error) {
    if (error.status !== 401) flash(`Could not generate a signing secret: ${error.message}`, 'error');
  }
}

// After Stripe Checkout: the tier changes when Stripe's webhook arrives, so watch for it for a while.
function stopPolling() {
  if (state.polling) clearTimeout(state.polling);
  state.polling = null;
}

function handleCheckoutReturn() {
  const params = new URLSearchParams(location.search);
  const outcome = params.get('checkout');
  if (!outcome) return;
  params.delete('checkout');
  const query = params.toString();
  history.replaceState(null, '', `${location.pathname}${query ? `?${query}` : ''}${location.hash}`);
  if (outcome !== 'success') return flash('Checkout canceled: your plan has not changed.', 'info');
  const startTier = state.overview.account.tier;
  if (state.overview.account.subscribed) return flash(`Payment received: you are on the ${state.overview.plan.label} plan.`);
  flash('Payment received. Your plan changes as soon as Stripe confirms the subscription; this page updates by itself.', 'info');
  let tries = 0;
  const poll = async () => {
    tries += 1;
    try {
      await refresh();
    } catch {
      return stopPolling();
    }
    const { account, plan } = state.overview;
    if (account.subscribed || account.tier !== startTier) {
      stopPolling();
      flash(`Your plan is now ${plan.label}.`);
      return;
    }
    if (tries < 20) state.polling = setTimeout(poll, 3000);
    else flash('Stripe has not confirmed the subscription yet. Reload this page in a minute.', 'info');
  };
  state.polling = setTimeout(poll, 2000);
}

// ---------------------------------------------------------------------------------------------------------
// Start

function wire() {
  $('key-form').addEventListener('submit', onKeySignIn);
  $('email-form').addEventListener('submit', onEmailSignIn);
  $('finish-button').addEventListener('click', onFinishSignIn);
  $('sign-out').addEventListener('click', onSignOut);
  $('create-key-form').addEventListener('submit', onCreateKey);
  $('copy-secret').addEventListener('click', () => copy($('secret-value'), $('copy-status')));
  $('copy-signing').addEventListener('click', () => copy($('signing-value'), $('copy-signing-status')));
  $('hide-secret').addEventListener('click', () => {
    $('secret-panel').hidden = true;
    $('secret-value').value = '';
    $('key-name').focus();
  });
  $('hide-signing').addEventListener('click', () => {
    $('signing-panel').hidden = true;
    $('signing-value').value = '';
    $('rotate-signing-secret').focus();
  });
  $('webhook-form').addEventListener('submit', onSaveWebhook);
  $('remove-webhook').addEventListener('click', (event) => saveWebhook(null, event.currentTarget));
  $('rotate-signing-secret').addEventListener('click', onRotateSigningSecret);
  $('controls-cancel').addEventListener('click', () => $('controls-dialog').close());
}

/** A sign-in link carries its one-time token in the fragment (never sent to a server); take it out of the address bar. */
function takeLoginToken() {
  if (!location.hash.startsWith('#login-token=')) return false;
  state.loginToken = decodeURIComponent(location.hash.slice('#login-token='.length));
  history.replaceState(null, '', `${location.pathname}${location.search}`);
  stopPolling();
  clearFlash();
  $('finish-error').hidden = true;
  show('finish-sign-in');
  $('finish-button').focus();
  return true;
}

async function boot() {
  wire();
  // The link may also be opened in a tab that already shows the portal: only the fragment changes then.
  window.addEventListener('hashchange', takeLoginToken);
  if (takeLoginToken()) return;
  try {
    const session = await api('GET', '/session');
    await enter(session);
    handleCheckoutReturn();
    if (location.hash.length > 1) document.getElementById(location.hash.slice(1))?.scrollIntoView();
  } catch (error) {
    if (error.status === 401) showSignIn();
    else showSignIn(`The portal could not load: ${error.message}`, 'error');
  }
}

boot();
