/* global document, window, fetch, location, Node, URLSearchParams, FormData, sessionStorage, confirm, prompt */
// Tollgate operator console. No framework, no third-party host; every node is built with textContent (no HTML
// from data). The admin token is sent once to /console/api/login and dropped; the session lives in an HttpOnly cookie.
const api = '/console/api';
let csrfToken = null;

const $ = (id) => document.getElementById(id);

/** An element: h('td', { class: 'num' }, 'text', child). Attribute values are set, never parsed as HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) element.append(child instanceof Node ? child : String(child));
  return element;
}

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children.flat()) element.append(child instanceof Node ? child : String(child));
  return element;
}

function say(message, isError = false) {
  const status = $('status');
  status.textContent = message;
  status.classList.toggle('is-error', isError);
}

async function call(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401 && path !== '/login') {
    showSignIn();
    throw new Error('Your session ended: sign in again.');
  }
  if (!response.ok) throw new Error(data?.message ?? `Request failed (${response.status}).`);
  return data;
}

const fmtNumber = (value) => (typeof value === 'string' ? value : new Intl.NumberFormat('en-US').format(value));
const money = (amount, currency) => `${currency === 'usd' ? '$' : ''}${amount}${currency === 'usd' ? '' : ` ${currency.toUpperCase()}`}`;
const badge = (text) => h('span', { class: `badge badge-${text}` }, text.replace('_', ' '));
const table = (caption, heads, rows) =>
  h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, heads.map(([label, cls]) => h('th', { scope: 'col', class: cls }, label)))),
      h('tbody', {}, rows)));

function showSignIn() {
  csrfToken = null;
  $('nav').hidden = true;
  $('sign-out').hidden = true;
  $('view').hidden = true;
  $('sign-in').hidden = false;
  $('admin-token').focus();
}

function showApp() {
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('sign-out').hidden = false;
  $('view').hidden = false;
}

async function render() {
  if (!csrfToken) return;
  const [page, ...rest] = (location.hash.slice(1) || 'overview').split('/');
  for (const link of document.querySelectorAll('nav a')) {
    const current = link.getAttribute('href') === `#${page === 'customer' ? 'customers' : page}`;
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const view = $('view');
  try {
    const content =
      page === 'customers' ? await customersPage() : page === 'customer' ? await customerPage(decodeURIComponent(rest.join('/'))) : page === 'billing' ? await billingPage() : page === 'events' ? await eventsPage() : await overviewPage();
    view.replaceChildren(content);
  } catch (error) {
    say(error.message, true);
  }
}

async function overviewPage() {
  const data = await call('GET', '/overview');
  const tile = (figure, label, value, sub) => h('div', { class: 'tile' }, h('dt', {}, label), h('dd', { 'data-figure': figure }, value, sub ? h('div', { class: 'sub' }, sub) : null));
  const tiers = Object.entries(data.activeByTier).map(([tier, count]) => `${tier}: ${count}`).join(' · ') || 'none';
  return h('div', {},
    h('h1', {}, 'Overview'),
    h('dl', { class: 'tiles' },
      tile('mrr', 'MRR (base prices)', money(data.mrr, data.currency)),
      tile('overage', 'Overage this period', money(data.overageThisPeriod, data.currency), h('span', { 'data-figure': 'overage-projected' }, `projected ${money(data.projectedOverageThisPeriod, data.currency)} by period end`)),
      tile('active', 'Active customers', fmtNumber(data.activeCustomers), tiers),
      tile('usage', 'Usage today', fmtNumber(data.usage.today), `yesterday ${fmtNumber(data.usage.yesterday)}`),
      tile('refusals', '429 answers, last hour', fmtNumber(data.tooManyRequestsLastHour), 'rate limit and quota, this instance')),
    h('section', { class: 'card', 'aria-labelledby': 'attention-title' },
      h('h2', { id: 'attention-title' }, `Needs attention (${data.attention.length})`),
      data.attention.length
        ? h('ul', { class: 'attention' }, data.attention.map((item) =>
            h('li', { 'data-kind': item.kind }, badge(item.kind), ' ',
              item.customerId ? [h('a', { href: `#customer/${encodeURIComponent(item.customerId)}` }, item.customerId), ` · ${item.meter} · `] : null, item.detail)))
        : h('p', { class: 'empty' }, 'Nothing needs attention: no failed or stuck pushes, no drift.')));
}

async function customersPage() {
  const params = new URLSearchParams(sessionStorage.getItem('console.customers') ?? '');
  const { data } = await call('GET', `/customers?${params}`);
  const field = (id, label, control) => h('div', {}, h('label', { for: id }, label), control);
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of new FormData(event.target)) if (value) next.set(name, String(value));
    sessionStorage.setItem('console.customers', next.toString());
    render();
  } },
    field('q', 'Search', h('input', { id: 'q', name: 'q', type: 'search', value: params.get('q') ?? '', placeholder: 'name, id, email, Stripe id' })),
    field('tier', 'Tier', h('input', { id: 'tier', name: 'tier', value: params.get('tier') ?? '', size: 10 })),
    field('status-filter', 'Status', h('select', { id: 'status-filter', name: 'status' }, ['', 'active', 'suspended', 'past_due', 'canceled'].map((value) => h('option', { value, selected: params.get('status') === value }, value || 'any')))),
    field('sort', 'Sort by', h('select', { id: 'sort', name: 'sort' }, [['name', 'name'], ['usage', 'usage'], ['percent', '% of quota']].map(([value, label]) => h('option', { value, selected: params.get('sort') === value }, label)))),
    h('button', { type: 'submit', class: 'button' }, 'Apply'));
  const rows = data.map((customer) =>
    h('tr', {},
      h('td', {}, h('a', { href: `#customer/${encodeURIComponent(customer.id)}` }, customer.name), h('div', { class: 'hide-phone' }, h('code', {}, customer.id))),
      h('td', {}, customer.tier),
      h('td', {}, badge(customer.status)),
      h('td', { class: 'num' }, fmtNumber(customer.usage)),
      h('td', { class: 'num' }, customer.percentUsed === null ? '—' : [h('span', { class: 'meter-bar hide-phone', 'aria-hidden': 'true' }, h('span', { style: null, 'data-width': Math.min(100, customer.percentUsed) })), `${customer.percentUsed}%`])));
  const result = h('div', {}, h('h1', {}, 'Customers'), form, data.length ? table('Customers', [['Customer'], ['Tier'], ['Status'], ['Usage', 'num'], ['% of quota', 'num']], rows) : h('p', { class: 'empty' }, 'No customer matches.'));
  // Widths through the CSSOM (the CSP allows no inline style attribute).
  for (const bar of result.querySelectorAll('[data-width]')) bar.style.width = `${bar.dataset.width}%`;
  return result;
}

/** Bars per day of the period for one meter, as an inline SVG with a text alternative. */
function usageChart(daily, meter, period) {
  const start = new Date(period.start);
  const end = new Date(Math.min(new Date(period.end).getTime(), Date.now() + 86_400_000));
  const days = [];
  for (let day = new Date(start); day < end; day = new Date(day.getTime() + 86_400_000)) days.push(day.toISOString().slice(0, 10));
  const values = days.map((date) => Number(daily.find((row) => row.date === date && row.meter === meter)?.quantity ?? 0));
  const max = Math.max(1, ...values);
  const width = 600;
  const height = 200;
  const step = width / Math.max(1, days.length);
  const total = values.reduce((a, b) => a + b, 0);
  return svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height + 20}`, role: 'img', 'aria-label': `${meter} per day: ${fmtNumber(total)} in ${days.length} days, at most ${fmtNumber(max)} a day` },
    svg('line', { class: 'axis', x1: 0, y1: height, x2: width, y2: height }),
    values.map((value, index) => svg('rect', { class: 'bar', x: index * step + 1, y: height - (value / max) * height, width: Math.max(1, step - 2), height: (value / max) * height },
      svg('title', {}, `${days[index]}: ${fmtNumber(value)}`))),
    svg('text', { x: 0, y: height + 15 }, days[0] ?? ''),
    svg('text', { x: width, y: height + 15, 'text-anchor': 'end' }, days[days.length - 1] ?? ''));
}

async function customerPage(id) {
  const { customer, tiers, usage, keys, notifications, invoice } = await call('GET', `/customers/${encodeURIComponent(id)}`);
  const act = (label, method, path, body, confirmText, cls = 'button button-small') =>
    h('button', { type: 'button', class: cls, onclick: async () => {
      if (confirmText && !confirm(confirmText)) return;
      try {
        const result = await call(method, path, body);
        await render();
        if (result?.secret) $('view').prepend(h('div', { class: 'card', role: 'alert' }, h('h2', {}, 'New secret (shown once)'), h('p', { class: 'secret', id: 'new-secret' }, result.secret)));
        say(`${label}: done.`);
      } catch (error) {
        say(error.message, true);
      }
    } }, label);
  const base = `/customers/${encodeURIComponent(customer.id)}`;
  const limits = customer.limits;
  const stripeLink = (kind, value) => value ? h('a', { href: `https://dashboard.stripe.com/${kind}/${encodeURIComponent(value)}`, rel: 'noreferrer', target: '_blank' }, value) : '—';
  return h('div', {},
    h('p', {}, h('a', { href: '#customers' }, '← Customers')),
    h('h1', {}, customer.name, ' ', badge(customer.status)),
    h('section', { class: 'card', 'aria-labelledby': 'facts' },
      h('h2', { id: 'facts' }, 'Account'),
      h('dl', { class: 'tiles' },
        h('div', {}, h('dt', {}, 'Id'), h('dd', {}, h('code', {}, customer.id))),
        h('div', {}, h('dt', {}, 'Tier'), h('dd', {}, customer.tier)),
        h('div', {}, h('dt', {}, 'Email'), h('dd', {}, customer.email ?? '—')),
        h('div', {}, h('dt', {}, 'Stripe customer'), h('dd', {}, stripeLink('customers', customer.stripeCustomerId))),
        h('div', {}, h('dt', {}, 'Stripe subscription'), h('dd', {}, stripeLink('subscriptions', customer.stripeSubscriptionId))),
        h('div', {}, h('dt', {}, 'Quota'), h('dd', {}, limits.includedCalls === null ? 'unlimited' : `${fmtNumber(limits.includedCalls)} / month`)),
        h('div', {}, h('dt', {}, 'Rate limit'), h('dd', {}, (limits.rateLimits ?? []).map((policy) => `${policy.limit}/${policy.windowSeconds}s`).join(', ') || '—'))),
      customer.stripeSubscriptionId
        ? h('p', {}, 'Billed through Stripe: change the plan with ', h('code', {}, 'POST /v1/customers/:id/subscription'), '.')
        : h('form', { class: 'filters', onsubmit: async (event) => {
            event.preventDefault();
            const tier = new FormData(event.target).get('tier');
            if (tier === customer.tier || !confirm(`Move ${customer.name} to ${tier}?`)) return;
            try {
              await call('PATCH', `${base}/tier`, { tier });
              await render();
              say(`Now on ${tier}.`);
            } catch (error) {
              say(error.message, true);
            }
          } },
            h('div', {}, h('label', { for: 'tier-select' }, 'Tier'), h('select', { id: 'tier-select', name: 'tier' }, tiers.map((tier) => h('option', { value: tier, selected: tier === customer.tier }, tier)))),
            h('button', { type: 'submit', class: 'button' }, 'Change tier')),
      h('div', { class: 'actions' },
        customer.status === 'suspended'
          ? act('Resume', 'PATCH', `${base}/status`, { status: 'active' })
          : act('Suspend', 'PATCH', `${base}/status`, { status: 'suspended' }, `Suspend ${customer.name}? Its keys stop working.`, 'button button-small button-danger'))),
    h('section', { class: 'card', 'aria-labelledby': 'usage-title' },
      h('h2', { id: 'usage-title' }, `Usage ${usage.period.start.slice(0, 10)} – ${usage.period.end.slice(0, 10)}`),
      usage.meters.map((meter) => h('div', {},
        h('p', {}, h('strong', {}, meter.meter), `: ${fmtNumber(meter.total)}${meter.included === null ? '' : ` of ${fmtNumber(meter.included)} (${meter.percentUsed}%)`}`),
        usageChart(usage.daily, meter.meter, usage.period)))),
    h('section', { class: 'card', 'aria-labelledby': 'keys-title' },
      h('h2', { id: 'keys-title' }, 'API keys'),
      h('form', { class: 'filters', onsubmit: async (event) => {
        event.preventDefault();
        try {
          const issued = await call('POST', `${base}/keys`, { name: new FormData(event.target).get('name') || undefined });
          await render();
          $('view').prepend(h('div', { class: 'card', role: 'alert' }, h('h2', {}, 'New secret (shown once)'), h('p', { class: 'secret', id: 'new-secret' }, issued.secret)));
          say('Key created.');
        } catch (error) {
          say(error.message, true);
        }
      } }, h('div', {}, h('label', { for: 'new-key-name' }, 'New key name'), h('input', { id: 'new-key-name', name: 'name', maxlength: 100 })), h('button', { type: 'submit', class: 'button' }, 'Create key')),
      table('API keys', [['Name'], ['Prefix'], ['State'], ['Last used', 'hide-phone'], ['Actions']], keys.map((key) =>
        h('tr', { 'data-key': key.id },
          h('td', {}, key.name ?? '—'),
          h('td', {}, h('code', {}, key.prefix)),
          h('td', {}, key.revokedAt ? badge('revoked') : key.expiresAt ? `expires ${key.expiresAt.slice(0, 16).replace('T', ' ')}` : badge('active')),
          h('td', { class: 'hide-phone' }, key.lastUsedAt?.slice(0, 16).replace('T', ' ') ?? 'never'),
          h('td', {}, key.revokedAt ? '' : h('div', { class: 'actions' },
            h('button', { type: 'button', class: 'button button-small', onclick: async () => {
              const name = prompt('New name for this key', key.name ?? '');
              if (!name) return;
              try {
                await call('PATCH', `${base}/keys/${encodeURIComponent(key.id)}`, { name });
                await render();
                say('Renamed.');
              } catch (error) {
                say(error.message, true);
              }
            } }, 'Rename'),
            act('Rotate', 'POST', `${base}/keys/${encodeURIComponent(key.id)}/rotate`, {}, null),
            act('Revoke', 'DELETE', `${base}/keys/${encodeURIComponent(key.id)}`, undefined, `Revoke ${key.prefix}…? It stops working within a second.`, 'button button-small button-danger'))))))),
    h('section', { class: 'card', 'aria-labelledby': 'invoice-title' },
      h('h2', { id: 'invoice-title' }, `Invoice preview: ${money(invoice.total, invoice.currency)}`),
      table('Invoice preview', [['Line'], ['Quantity', 'num'], ['Amount', 'num']], invoice.lines.map((line) =>
        h('tr', {}, h('td', {}, line.description), h('td', { class: 'num' }, fmtNumber(line.quantity)), h('td', { class: 'num' }, money(line.amount, invoice.currency)))))),
    h('section', { class: 'card', 'aria-labelledby': 'notifications-title' },
      h('h2', { id: 'notifications-title' }, 'Notifications'),
      notifications.length
        ? table('Notifications', [['When'], ['Subject'], ['Deliveries'], ['']], notifications.map((notification) =>
            h('tr', { 'data-notification': notification.id },
              h('td', {}, notification.createdAt.slice(0, 16).replace('T', ' ')),
              h('td', {}, notification.subject),
              h('td', {}, notification.deliveries.map((delivery) => h('div', {}, `${delivery.channel}: `, badge(delivery.status), ` · ${delivery.attempts} attempt(s)${delivery.lastError ? ` · ${delivery.lastError}` : ''}`))),
              h('td', {}, act('Redeliver', 'POST', `${base}/notifications/${encodeURIComponent(notification.id)}/redeliver`, undefined, null)))))
        : h('p', { class: 'empty' }, 'No notifications yet.')));
}

async function billingPage() {
  const filter = sessionStorage.getItem('console.pushes') ?? '';
  const [{ data: pushes }, reconciliation, { data: runs }, catalog] = await Promise.all([
    call('GET', `/pushes${filter ? `?status=${filter}` : ''}`),
    call('GET', '/reconciliation'),
    call('GET', '/sync-runs'),
    call('GET', '/provisioning'),
  ]);
  const retry = (push) => h('button', { type: 'button', class: 'button button-small', onclick: async () => {
    try {
      await call('POST', `/pushes/${encodeURIComponent(push.id)}/retry`);
      say(`Push ${push.id} will be re-sent at the next sync.`);
      await render();
    } catch (error) {
      say(error.message, true);
    }
  } }, `Retry push ${push.id}`);
  return h('div', {},
    h('h1', {}, 'Billing'),
    h('section', { class: 'card', 'aria-labelledby': 'runs-title' },
      h('h2', { id: 'runs-title' }, 'Sync runs'),
      runs.length
        ? table('Sync runs', [['Started (UTC)'], ['Mode', 'hide-phone'], ['Planned', 'num'], ['Sent', 'num'], ['Failed', 'num'], ['Pending', 'num hide-phone'], ['Error', 'hide-phone']], runs.map((run) =>
            h('tr', { 'data-run': run.id },
              h('td', {}, run.startedAt.slice(0, 19).replace('T', ' ')),
              h('td', { class: 'hide-phone' }, run.dryRun ? 'dry run' : 'Stripe'),
              h('td', { class: 'num' }, run.planned),
              h('td', { class: 'num' }, run.sent),
              h('td', { class: 'num' }, run.failed ? badge('failed') : 0, run.failed ? ` ${run.failed}` : ''),
              h('td', { class: 'num hide-phone' }, run.stillPending),
              h('td', { class: 'hide-phone' }, run.error ?? ''))))
        : h('p', { class: 'empty' }, 'No sync has run yet.')),
    h('section', { class: 'card', 'aria-labelledby': 'outbox-title' },
      h('h2', { id: 'outbox-title' }, 'Push outbox'),
      h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'push-status' }, 'Status'),
        h('select', { id: 'push-status', onchange: (event) => { sessionStorage.setItem('console.pushes', event.target.value); render(); } },
          ['', 'pending', 'sent', 'failed', 'dry_run'].map((value) => h('option', { value, selected: filter === value }, value || 'any'))))),
      pushes.length
        ? table('Push outbox', [['Id', 'hide-phone'], ['Customer'], ['Meter', 'hide-phone'], ['Delta', 'num'], ['Status'], ['Attempts', 'num hide-phone'], ['Error', 'hide-phone'], ['']], pushes.map((push) =>
            h('tr', { 'data-push': push.id },
              h('td', { class: 'hide-phone' }, push.id),
              h('td', {}, h('a', { href: `#customer/${encodeURIComponent(push.customerId)}` }, push.customerId)),
              h('td', { class: 'hide-phone' }, push.meter),
              h('td', { class: 'num' }, fmtNumber(push.delta)),
              h('td', {}, badge(push.status), push.failureCode ? h('div', {}, h('code', {}, push.failureCode)) : null),
              h('td', { class: 'num hide-phone' }, push.attempts),
              h('td', { class: 'hide-phone' }, push.lastError ?? ''),
              h('td', {}, push.status === 'failed' && !push.replannedAs && push.failureCode !== 'retry_requested' ? retry(push) : ''))))
        : h('p', { class: 'empty' }, 'No pushes.')),
    h('section', { class: 'card', 'aria-labelledby': 'catalog-title' },
      h('h2', { id: 'catalog-title' }, 'Stripe catalog vs tiers.yaml'),
      !catalog.stripe
        ? h('p', { class: 'empty' }, 'Stripe is off (no STRIPE_SECRET_KEY): nothing is provisioned.')
        : [
            h('p', { id: 'catalog-summary' }, catalog.inSync ? 'In sync: provisioning would change nothing.' : 'Out of sync: run POST /v1/billing/provision.'),
            table('Stripe catalog', [['Kind'], ['Name'], ['State']], catalog.items.map((item) =>
              h('tr', { class: item.state === 'in_sync' ? null : 'drift' }, h('td', {}, item.kind), h('td', {}, h('code', {}, item.name)), h('td', {}, item.state.replace('_', ' '), item.detail ? ` (${item.detail})` : '')))),
          ]),
    h('section', { class: 'card', 'aria-labelledby': 'reconciliation-title' },
      h('h2', { id: 'reconciliation-title' }, `Reconciliation (${reconciliation.driftDetected} with drift)`),
      reconciliation.warnings.map((warning) => h('p', { class: 'error' }, warning)),
      reconciliation.rows.length
        ? table('Reconciliation', [['Customer'], ['Meter'], ['Recorded', 'num'], ['Pushed', 'num'], ['Stripe', 'num'], ['Drift', 'num']], reconciliation.rows.map((row) =>
            h('tr', { class: row.drift ? 'drift' : null },
              h('td', {}, row.customerId),
              h('td', {}, row.meter),
              h('td', { class: 'num' }, fmtNumber(row.localTotal)),
              h('td', { class: 'num' }, fmtNumber(row.pushedTotal)),
              h('td', { class: 'num' }, row.stripeTotal === null ? 'off' : fmtNumber(row.stripeTotal)),
              h('td', { class: 'num' }, row.drift === null ? '—' : fmtNumber(row.drift)))))
        : h('p', { class: 'empty' }, 'Nothing to reconcile this period (only customers billed through Stripe are).')));
}

async function eventsPage() {
  const params = new URLSearchParams(sessionStorage.getItem('console.events') ?? '');
  const result = await call('GET', `/events?${params}`);
  const field = (id, label, control) => h('div', {}, h('label', { for: id }, label), control);
  const local = (iso) => iso.slice(0, 16);
  return h('div', {},
    h('h1', {}, 'Events'),
    h('form', { class: 'filters', role: 'search', onsubmit: (event) => {
      event.preventDefault();
      const next = new URLSearchParams();
      for (const [name, value] of new FormData(event.target)) {
        if (!value) continue;
        next.set(name, name === 'from' || name === 'to' ? `${value}:00Z` : String(value));
      }
      sessionStorage.setItem('console.events', next.toString());
      render();
    } },
      field('event-customer', 'Customer id', h('input', { id: 'event-customer', name: 'customerId', value: params.get('customerId') ?? '' })),
      field('event-meter', 'Meter', h('input', { id: 'event-meter', name: 'meter', value: params.get('meter') ?? '', size: 12 })),
      // Empty means the default window (the last 24 hours up to now), so events of the current minute are not cut off.
      field('event-from', 'From (UTC)', h('input', { id: 'event-from', name: 'from', type: 'datetime-local', value: local(params.get('from') ?? '') })),
      field('event-to', 'To (UTC)', h('input', { id: 'event-to', name: 'to', type: 'datetime-local', value: local(params.get('to') ?? '') })),
      h('button', { type: 'submit', class: 'button' }, 'Show')),
    h('p', {}, `${result.data.length} event(s) from ${result.from.slice(0, 16).replace('T', ' ')} to ${result.to.slice(0, 16).replace('T', ' ')} UTC, newest first${result.data.length === 200 ? ' (the latest 200)' : ''}.`),
    result.data.length
      ? table('Ledger events', [['Occurred (UTC)'], ['Customer'], ['Meter'], ['Quantity', 'num'], ['Idempotency key', 'hide-phone'], ['Recorded', 'hide-phone']], result.data.map((event) =>
          h('tr', {},
            h('td', {}, event.occurredAt.slice(0, 19).replace('T', ' ')),
            h('td', {}, h('a', { href: `#customer/${encodeURIComponent(event.customerId)}` }, event.customerId)),
            h('td', {}, event.meter),
            h('td', { class: 'num' }, fmtNumber(event.quantity)),
            h('td', { class: 'hide-phone' }, h('code', {}, event.idempotencyKey)),
            h('td', { class: 'hide-phone' }, event.recordedAt.slice(0, 19).replace('T', ' ')))))
      : h('p', { class: 'empty' }, 'No events in this window.'));
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = $('admin-token');
  $('sign-in-error').textContent = '';
  try {
    const session = await call('POST', '/login', { token: input.value });
    csrfToken = session.csrfToken;
    input.value = '';
    showApp();
    await render();
    $('main').focus();
  } catch (error) {
    input.value = '';
    $('sign-in-error').textContent = error.message;
  }
});

$('sign-out').addEventListener('click', async () => {
  await call('POST', '/logout').catch(() => undefined);
  showSignIn();
  say('Signed out.');
});

window.addEventListener('hashchange', () => {
  say('');
  render();
});

call('GET', '/session')
  .then((session) => {
    csrfToken = session.csrfToken;
    showApp();
    return render();
  })
  .catch(() => showSignIn());
