import { UsageIngestor } from '../../src/metering/usage-ingestor.js';
import { type LedgerEvent, UsageLedger } from '../../src/metering/usage-ledger.js';
import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, type CallResult } from '../support/http.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { until } from '../support/wait.js';
import { NoisyProbeModule } from './noisy-probe.module.js';

/**
 * One tenant's hostile usage must never fail or miscount another tenant's, at the settings users get (default
 * caps). Tenant A floods POST /v1/events with quantities at and over the per-event cap and near 2^53, fills its
 * counter up to the counter cap, and keeps flooding while tenant B makes 60 concurrent metered calls. A gate on
 * the ledger holds the commits until every one of those events is queued, so A's and B's events are written by
 * the same group-commit statements (checked below, not assumed).
 */

const EVENT_CAP = 1_000_000_000_000; // the default TOLLGATE_MAX_EVENT_QUANTITY
const COUNTER_CAP = Number.MAX_SAFE_INTEGER; // the default TOLLGATE_MAX_COUNTER_TOTAL, 2^53 − 1
const B_CALLS = 60;
const A_POSTS = 10;

describe('noisy neighbour: a tenant flooding huge quantities', () => {
  let database: TestDatabase;
  let service: TestApp;
  let admin: AdminClient;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { imports: [NoisyProbeModule] });
    admin = new AdminClient(service.url);
  });

  afterAll(async () => {
    await service?.close();
    await database?.dispose();
  });

  const counterOf = async (customerId: string) =>
    (await database.query<{ total: string | null }>('SELECT sum(total)::text AS total FROM usage_counters WHERE customer_id = $1', [customerId]))[0].total ?? '0';
  const ledgerOf = async (customerId: string) =>
    (await database.query<{ rows: string; sum: string | null }>('SELECT count(*)::text AS rows, sum(quantity)::text AS sum FROM usage_events WHERE customer_id = $1', [customerId]))[0];

  it("never fails nor miscounts the neighbour's metered calls sharing its group commits", async () => {
    const a = await admin.createCustomer('pro');
    const aKey = (await admin.createKey(a.id, { scopes: ['ingest'] })).secret;
    const b = await admin.createCustomer('pro');
    const bKey = (await admin.createKey(b.id)).secret;
    let sequence = 0;
    const events = (count: number, quantity: number) => Array.from({ length: count }, () => ({ quantity, idempotencyKey: `a-${String(sequence++).padStart(6, '0')}` }));
    const postAsA = (batch: unknown[]) => call('POST', `${service.url}/v1/events`, { apiKey: aKey, body: { events: batch } });

    // Phase 1, one post after the other: A fills its counter with events at the per-event cap (9 010 × 10^12 is
    // more than the counter cap), then sends a thousand of 2^53 − 1.
    const fill: CallResult[] = [];
    for (let i = 0; i < 10; i++) fill.push(await postAsA(events(901, EVENT_CAP)));
    const huge = await postAsA(events(1000, Number.MAX_SAFE_INTEGER));

    // Phase 2, concurrently: A floods on while B calls its metered route; commits wait at the gate until all is queued.
    const ledger = service.app.get(UsageLedger);
    const ingestor = service.app.get(UsageIngestor);
    const batches: LedgerEvent[][] = [];
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const insertBatch = ledger.insertBatch.bind(ledger);
    ledger.insertBatch = async (batch: LedgerEvent[]) => {
      await gate;
      batches.push(batch);
      return insertBatch(batch);
    };
    let queuedForB = 0;
    let postsFromA = 0;
    const record = ingestor.record.bind(ingestor);
    ingestor.record = (event: LedgerEvent) => {
      if (event.customerId === b.id) queuedForB++;
      return record(event);
    };
    const recordMany = ingestor.recordMany.bind(ingestor);
    ingestor.recordMany = (batch: LedgerEvent[]) => {
      postsFromA++;
      return recordMany(batch);
    };

    const flood = Array.from({ length: A_POSTS }, () =>
      postAsA([
        ...events(20, Number.MAX_SAFE_INTEGER),
        ...events(10, Number.MAX_SAFE_INTEGER - 1),
        ...events(10, EVENT_CAP),
        ...events(10, EVENT_CAP + 1),
        ...events(10, 2 ** 53),
        ...events(10, 1),
      ]),
    );
    const neighbour = Array.from({ length: B_CALLS }, () => call('GET', `${service.url}/v1/neighbour-probe`, { apiKey: bKey }));
    await until(() => queuedForB === B_CALLS && postsFromA === A_POSTS);
    openGate();
    const [floodResponses, neighbourResponses] = await Promise.all([Promise.all(flood), Promise.all(neighbour)]);

    // B: every call served and counted exactly once.
    const statuses: Record<number, number> = {};
    for (const response of neighbourResponses) statuses[response.status] = (statuses[response.status] ?? 0) + 1;
    const bLedger = await ledgerOf(b.id);
    expect({ statuses, counter: await counterOf(b.id), rows: bLedger.rows, sum: bLedger.sum }).toEqual({
      statuses: { 200: B_CALLS },
      counter: String(B_CALLS),
      rows: String(B_CALLS),
      sum: String(B_CALLS),
    });
    // The two tenants' events were written by the same statements.
    const shared = batches.filter((batch) => batch.some((event) => event.customerId === a.id) && batch.some((event) => event.customerId === b.id));
    expect(shared.length).toBeGreaterThan(0);

    // A: every post answered 200, every event accepted or rejected with a reason.
    for (const response of [...fill, huge, ...floodResponses]) expect(response.status).toBe(200);
    const results = (responses: CallResult[]) => responses.flatMap((response) => response.body.results as Array<{ status: string; reason?: string }>);
    const fillResults = results(fill);
    // The counter cap is 9 007 199 254 740 991: 9 007 events of 10^12 fit, the other 3 do not.
    expect(fillResults.filter((result) => result.status === 'accepted')).toHaveLength(9007);
    expect(fillResults.filter((result) => result.status === 'rejected').map((result) => result.reason?.split(':')[0])).toEqual(['counter_limit', 'counter_limit', 'counter_limit']);
    expect(new Set(results([huge]).map((result) => `${result.status} ${result.reason?.split(':')[0]}`))).toEqual(new Set(['rejected quantity_limit']));
    const floodResults = results(floodResponses);
    expect(floodResults.filter((result) => result.status === 'accepted')).toHaveLength(A_POSTS * 10); // the quantity-1 events fit
    expect(floodResults.filter((result) => result.status === 'rejected' && !result.reason)).toEqual([]);

    // A's counter stopped at the cap, equals its ledger, and every API shows it exactly.
    const aLedger = await ledgerOf(a.id);
    const aTotal = 9007n * BigInt(EVENT_CAP) + BigInt(A_POSTS * 10);
    expect({ counter: await counterOf(a.id), ledger: aLedger.sum }).toEqual({ counter: String(aTotal), ledger: String(aTotal) });
    expect(aTotal <= BigInt(COUNTER_CAP)).toBe(true);
    const usage = await admin.request('GET', `/v1/customers/${a.id}/usage`);
    expect(usage.status).toBe(200);
    expect(usage.body.meters.find((meter: { meter: string }) => meter.meter === 'api_calls')).toMatchObject({ total: Number(aTotal) });
    expect(String(usage.body.meters[0].total)).toBe(String(aTotal));
  });
});
