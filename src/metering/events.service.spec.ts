import { TollgateConfig } from '../config/tollgate-config.js';
import type { CustomerEntity } from '../customers/index.js';
import type { CustomersService } from '../customers/index.js';
import type { TiersService } from '../tiers/index.js';
import { EventsService, type EventResult } from './events.service.js';
import type { UsageIngestor } from './usage-ingestor.js';
import type { LedgerEvent } from './usage-ledger.js';

/**
 * The ingest API's per-event checks: each refusal's exact `reason` (clients and the README rely on them), the
 * order the checks run in (an event with several faults gets the first one's reason), and the ledger event an
 * accepted one becomes. The database is not involved: the ingestor is a stub that accepts everything.
 */

/** 20 minutes into March: February's period is still within its 50-minute late-event grace. */
const NOW = new Date('2026-03-01T00:20:00.000Z');
const MARCH = { start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z' };

const customer = (id: string, fields: Partial<CustomerEntity> = {}) =>
  ({ id, periodStart: null, periodEnd: null, endedPeriodStart: null, endedPeriodEnd: null, ...fields }) as CustomerEntity;

const CUSTOMERS = new Map<string, CustomerEntity>([
  ['cus_a', customer('cus_a')],
  ['cus_b', customer('cus_b')],
  // Subscribed: billed from the 10th (10:00 UTC) to the 10th.
  ['cus_sub', customer('cus_sub', { periodStart: new Date('2026-03-10T10:00:00.000Z'), periodEnd: new Date('2026-04-10T10:00:00.000Z') })],
]);

function setup() {
  const config = TollgateConfig.create({
    maxEventQuantity: 1000,
    catalog: {
      tiers: [],
      meters: [
        { name: 'api_calls', aggregation: 'sum', unit: 'call' },
        { name: 'tokens', aggregation: 'sum', unit: 'token' },
        { name: 'logins', aggregation: 'count', unit: 'login' },
      ],
      upgradeUrl: '/',
    },
  });
  const recorded: LedgerEvent[] = [];
  const lookups: string[] = [];
  const ingestor = {
    recordMany: async (events: LedgerEvent[]) => {
      recorded.push(...events);
      return events.map(() => 'accepted' as const);
    },
  } as unknown as UsageIngestor;
  const customers = {
    findCached: async (id: string) => {
      lookups.push(id);
      return CUSTOMERS.get(id) ?? null;
    },
  } as unknown as CustomersService;
  const tiers = { catalog: config.catalog } as unknown as TiersService;
  return { service: new EventsService(ingestor, customers, tiers, config), recorded, lookups };
}

/** The reason of each event sent alone (or its status when not rejected). */
async function outcomeOf(event: unknown, own: string | null = null): Promise<string> {
  const [result] = await setup().service.ingest([event as never], own, NOW);
  return result.status === 'rejected' ? result.reason! : result.status;
}

const long = 'x'.repeat(256);
const ok = { customerId: 'cus_a', idempotencyKey: 'k-1' };

describe('EventsService: per-event checks and their reasons', () => {
  it.each<[string, unknown, string]>([
    ['null', null, 'event must be an object'],
    ['an array', [], 'event must be an object'],
    ['a number', 5, 'event must be an object'],
    ['a string', 'event', 'event must be an object'],
    ['an unknown field', { ...ok, extra: 1 }, 'unknown field "extra"'],
    ['an own __proto__ key', JSON.parse('{"__proto__": 1, "idempotencyKey": "k"}'), 'unknown field "__proto__"'],
    ['a long customerId', { ...ok, customerId: long }, 'customerId must be at most 255 characters'],
    ['a long meter', { ...ok, meter: long }, 'meter must be at most 255 characters'],
    ['a long timestamp', { ...ok, timestamp: long }, 'timestamp must be at most 255 characters'],
    ['NUL in customerId', { ...ok, customerId: 'cus\u0000a' }, 'customerId must not contain NUL characters'],
    ['NUL in idempotencyKey', { ...ok, idempotencyKey: 'k\u0000' }, 'idempotencyKey must not contain NUL characters'],
    ['a lone surrogate in meter', { ...ok, meter: 'm\ud800' }, 'meter must be valid Unicode text (no unpaired surrogates)'],
    ['NUL deep in properties', { ...ok, properties: { a: [1, { b: 'x\u0000' }] } }, 'properties.a.1.b must not contain NUL characters'],
    ['a bad property name', { ...ok, properties: { 'k\udc00': 1 } }, 'properties property names must be valid Unicode text (no unpaired surrogates)'],
    ['no customerId', { idempotencyKey: 'k' }, 'customerId is required'],
    ['an empty customerId', { ...ok, customerId: '' }, 'customerId is required'],
    ['a numeric customerId', { ...ok, customerId: 7 }, 'customerId is required'],
    ['a null customerId', { ...ok, customerId: null }, 'customerId is required'],
    ['an unknown customer', { ...ok, customerId: 'cus_nope' }, 'unknown customer "cus_nope"'],
    ['no idempotencyKey', { customerId: 'cus_a' }, 'idempotencyKey is required: 1-255 visible ASCII characters'],
    ['an empty idempotencyKey', { ...ok, idempotencyKey: '' }, 'idempotencyKey is required: 1-255 visible ASCII characters'],
    ['a space in idempotencyKey', { ...ok, idempotencyKey: 'a b' }, 'idempotencyKey is required: 1-255 visible ASCII characters'],
    ['a long idempotencyKey', { ...ok, idempotencyKey: long }, 'idempotencyKey is required: 1-255 visible ASCII characters'],
    ['a numeric idempotencyKey', { ...ok, idempotencyKey: 42 }, 'idempotencyKey is required: 1-255 visible ASCII characters'],
    ['an unknown meter', { ...ok, meter: 'nope' }, 'unknown meter "nope" (known: api_calls, tokens, logins)'],
    ['an empty meter', { ...ok, meter: '' }, 'unknown meter "" (known: api_calls, tokens, logins)'],
    ['a numeric meter', { ...ok, meter: 3 }, 'unknown meter "3" (known: api_calls, tokens, logins)'],
    ['an inherited meter name', { ...ok, meter: 'toString' }, 'unknown meter "toString" (known: api_calls, tokens, logins)'],
    ['a string quantity', { ...ok, quantity: '1' }, 'quantity must be a whole number ≥ 0'],
    ['a fractional quantity', { ...ok, quantity: 1.5 }, 'quantity must be a whole number ≥ 0'],
    ['a negative quantity', { ...ok, quantity: -1 }, 'quantity must be a whole number ≥ 0'],
    ['a null quantity', { ...ok, quantity: null }, 'quantity must be a whole number ≥ 0'],
    ['a quantity past the limit', { ...ok, quantity: 1001 }, 'quantity_limit: quantity must be at most 1000 (TOLLGATE_MAX_EVENT_QUANTITY), got 1001'],
    ['a huge quantity', { ...ok, quantity: 1e21 }, 'quantity_limit: quantity must be at most 1000 (TOLLGATE_MAX_EVENT_QUANTITY), got 1e+21'],
    ['a count meter with a quantity past the limit', { ...ok, meter: 'logins', quantity: 5000 }, 'quantity_limit: quantity must be at most 1000 (TOLLGATE_MAX_EVENT_QUANTITY), got 5000'],
    ['a numeric timestamp', { ...ok, timestamp: 1_700_000_000 }, 'timestamp must be an ISO-8601 date-time'],
    ['a null timestamp', { ...ok, timestamp: null }, 'timestamp must be an ISO-8601 date-time'],
    ['a word timestamp', { ...ok, timestamp: 'yesterday' }, 'timestamp must be an ISO-8601 date-time'],
    ['a date without time', { ...ok, timestamp: '2026-03-15' }, 'timestamp must be an ISO-8601 date-time'],
    ['an impossible date', { ...ok, timestamp: '2026-13-45T00:00:00Z' }, 'timestamp must be an ISO-8601 date-time'],
    ['a timestamp 6 minutes ahead', { ...ok, timestamp: '2026-03-01T00:26:00.000Z' }, 'timestamp is more than 5 minutes in the future'],
    [
      'a timestamp in a closed period',
      { ...ok, timestamp: '2026-01-31T00:00:00Z' },
      'period_closed: the period 2026-01-01T00:00:00.000Z – 2026-02-01T00:00:00.000Z closed (late-event grace 50 min, TOLLGATE_LATE_EVENT_GRACE_MS); late events are not moved to another period',
    ],
    ['array properties', { ...ok, properties: [1] }, 'properties must be an object'],
    ['string properties', { ...ok, properties: 'x' }, 'properties must be an object'],
    ['properties over 4 KB', { ...ok, properties: { blob: 'x'.repeat(4100) } }, 'properties must be at most 4096 bytes of JSON'],
    // Several faults: the first check's reason.
    ['an unknown field and no customer', { extra: 1, idempotencyKey: 'k' }, 'unknown field "extra"'],
    ['a long meter and NUL in the key', { ...ok, idempotencyKey: 'k\u0000', meter: long }, 'meter must be at most 255 characters'],
    ['an unknown customer and a bad key', { customerId: 'cus_nope', idempotencyKey: '' }, 'unknown customer "cus_nope"'],
    ['a bad key and an unknown meter', { customerId: 'cus_a', idempotencyKey: '', meter: 'nope' }, 'idempotencyKey is required: 1-255 visible ASCII characters'],
    ['an unknown meter and a bad quantity', { ...ok, meter: 'nope', quantity: -1 }, 'unknown meter "nope" (known: api_calls, tokens, logins)'],
    ['a bad quantity and a bad timestamp', { ...ok, quantity: -1, timestamp: 'x' }, 'quantity must be a whole number ≥ 0'],
    ['a closed period and bad properties', { ...ok, timestamp: '2026-01-01T00:00:00Z', properties: [] }, expect.stringMatching(/^period_closed: /) as unknown as string],
  ])('%s → rejected', async (_name, event, reason) => {
    expect(await outcomeOf(event)).toEqual(reason);
  });

  it('refuses a key holder another customer, and defaults to its own', async () => {
    expect(await outcomeOf({ customerId: 'cus_b', idempotencyKey: 'k' }, 'cus_a')).toBe('a key may only report usage for its own customer');
    expect(await outcomeOf({ idempotencyKey: 'k' }, 'cus_a')).toBe('accepted');
    expect(await outcomeOf({ idempotencyKey: 'k' }, 'cus_nope')).toBe('unknown customer "cus_nope"');
  });

  it('turns an accepted event into its ledger event', async () => {
    const { service, recorded } = setup();
    const results = await service.ingest(
      [
        { customerId: 'cus_a', idempotencyKey: 'a-1' },
        { customerId: 'cus_a', idempotencyKey: 'a-2', meter: 'tokens', quantity: 0, timestamp: '2026-03-01T01:10:00+01:00', properties: { model: 'm' } },
        { customerId: 'cus_a', idempotencyKey: 'a-3', meter: 'logins', quantity: 7, timestamp: '2026-02-28T23:30:00Z', properties: null },
        { customerId: 'cus_sub', idempotencyKey: 's-1', quantity: 1000 },
        { customerId: 'cus_sub', idempotencyKey: 's-2', timestamp: '2026-02-10T10:00:00Z' },
        { customerId: 'cus_sub', idempotencyKey: 's-3', timestamp: '2026-02-10T09:59:59Z' },
        { customerId: 'cus_a', idempotencyKey: 'a-4', meter: null, timestamp: '2026-03-01T00:24:59.999Z' },
      ],
      null,
      NOW,
    );
    expect(results.map((result) => result.reason ?? result.status)).toEqual([
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      // The subscription's previous period (January 10 – February 10, 10:00) closed long ago.
      'period_closed: the period 2026-01-10T10:00:00.000Z – 2026-02-10T10:00:00.000Z closed (late-event grace 50 min, TOLLGATE_LATE_EVENT_GRACE_MS); late events are not moved to another period',
      'accepted',
    ]);
    const march = { periodStart: new Date(MARCH.start), periodEnd: new Date(MARCH.end) };
    expect(recorded).toEqual([
      { customerId: 'cus_a', meter: 'api_calls', quantity: 1, idempotencyKey: 'evt:a-1', occurredAt: NOW, ...march, properties: null },
      { customerId: 'cus_a', meter: 'tokens', quantity: 0, idempotencyKey: 'evt:a-2', occurredAt: new Date('2026-03-01T00:10:00Z'), ...march, properties: { model: 'm' } },
      // Late, within the 50-minute grace: it counts in February; a count meter counts 1.
      {
        customerId: 'cus_a',
        meter: 'logins',
        quantity: 1,
        idempotencyKey: 'evt:a-3',
        occurredAt: new Date('2026-02-28T23:30:00Z'),
        periodStart: new Date('2026-02-01T00:00:00Z'),
        periodEnd: new Date(MARCH.start),
        properties: null,
      },
      {
        customerId: 'cus_sub',
        meter: 'api_calls',
        quantity: 1000,
        idempotencyKey: 'evt:s-1',
        occurredAt: NOW,
        periodStart: new Date('2026-02-10T10:00:00Z'),
        periodEnd: new Date('2026-03-10T10:00:00Z'),
        properties: null,
      },
      {
        customerId: 'cus_sub',
        meter: 'api_calls',
        quantity: 1,
        idempotencyKey: 'evt:s-2',
        occurredAt: new Date('2026-02-10T10:00:00Z'),
        periodStart: new Date('2026-02-10T10:00:00Z'),
        periodEnd: new Date('2026-03-10T10:00:00Z'),
        properties: null,
      },
      { customerId: 'cus_a', meter: 'api_calls', quantity: 1, idempotencyKey: 'evt:a-4', occurredAt: new Date('2026-03-01T00:24:59.999Z'), ...march, properties: null },
    ]);
  });

  it('answers every event in request order, mixed outcomes included, and looks each customer up once', async () => {
    const { service, lookups } = setup();
    const events = [
      { customerId: 'cus_a', idempotencyKey: 'x-1' },
      { customerId: 'cus_nope', idempotencyKey: 'x-2' },
      { customerId: 'cus_a', idempotencyKey: 'x-3', quantity: -1 },
      { customerId: 'cus_b', idempotencyKey: 'x-4' },
      { customerId: 'cus_a', idempotencyKey: 7 },
      { customerId: long, idempotencyKey: 'x-6' },
      { customerId: 'cus\u0000', idempotencyKey: 'x-7' },
    ];
    const results: EventResult[] = await service.ingest(events as never, null, NOW);
    expect(results).toEqual([
      { index: 0, idempotencyKey: 'x-1', status: 'accepted' },
      { index: 1, idempotencyKey: 'x-2', status: 'rejected', reason: 'unknown customer "cus_nope"' },
      { index: 2, idempotencyKey: 'x-3', status: 'rejected', reason: 'quantity must be a whole number ≥ 0' },
      { index: 3, idempotencyKey: 'x-4', status: 'accepted' },
      { index: 4, idempotencyKey: null, status: 'rejected', reason: 'idempotencyKey is required: 1-255 visible ASCII characters' },
      { index: 5, idempotencyKey: 'x-6', status: 'rejected', reason: 'customerId must be at most 255 characters' },
      { index: 6, idempotencyKey: 'x-7', status: 'rejected', reason: 'customerId must not contain NUL characters' },
    ]);
    // Ids no customer can have are never looked up.
    expect([...lookups].sort()).toEqual(['cus_a', 'cus_b', 'cus_nope']);
  });
});
