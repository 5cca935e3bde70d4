/**
 * A stateful, in-process stand-in for the slice of the Stripe API that Tollgate depends on: customers,
 * products, prices, Billing Meters (events, adjustments, summaries), subscriptions, invoice previews,
 * Checkout sessions and webhook signatures. The real `stripe` SDK talks to it over HTTP:
 *
 *   new Stripe('sk_test_…', { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0 })
 *
 * It reproduces the behaviour Tollgate's correctness rests on (idempotent replays, identifier dedupe over
 * 24 h, the 35-day / 5-minute timestamp window, half-open summary windows, exact decimal pricing) and can
 * inject the failures Tollgate must survive (500 before applying, a connection lost after applying, 429
 * bursts with or without Stripe-Should-Retry, latency). It is written from Stripe's public API reference,
 * not from Stripe's code; what it leaves out is listed below.
 *
 * Start it with `StripeEmulator.start({ webhookSecret?, strictSummaryAlignment? })`; stop it with `stop()`.
 *
 * Deliberate simplifications: everything is synchronous (meter events count at once, Stripe aggregates
 * them asynchronously); no invoices are finalized when a period ends; parameters Stripe would reject as
 * unknown are ignored; only the expansion of `tiers` is honoured (other `expand` values are accepted).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';

/** The API version the emulator claims (and stamps on webhook events) unless the client sends its own. */
export const EMULATED_API_VERSION = '2026-10-28.endive';

export interface FaultSettings {
  /** 0..1: answer 500 (api_error) WITHOUT applying the request. */
  error500Rate: number;
  /** 0..1: apply the request (or replay it), then destroy the socket without answering. */
  resetAfterApplyRate: number;
  /** Answer 429 to the next `remaining` requests; `Stripe-Should-Retry` is sent as given, or left out when null. */
  rateLimitBurst: { remaining: number; shouldRetryHeader: boolean | null };
  /** Delay every answer by this many milliseconds. */
  latencyMs: number;
  /** Faults apply only to paths matching this (e.g. /meter_events/); undefined = every path. */
  onlyPaths?: RegExp;
}

export interface EmulatedMeterEvent {
  identifier: string;
  eventName: string;
  customer: string;
  value: number;
  timestamp: number;
  cancelled: boolean;
}

export interface LoggedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  idempotencyKey: string | null;
  /** The status sent; 0 when no answer was sent (the connection was destroyed by resetAfterApplyRate). */
  status: number;
  /** True when the answer was an idempotent replay of an earlier one (nothing was applied again). */
  replayed: boolean;
}

/** JSON as the emulator answers it: loosely typed on purpose, tests reach into it. */
export type StripeObject = Record<string, any>;

export interface EmulatorOptions {
  /** The secret webhooks are signed with; random `whsec_…` by default (see `webhookSecret`). */
  webhookSecret?: string;
  /**
   * Enforce Stripe's documented rule for meter event summaries: start_time and end_time aligned to minutes
   * (to hours / UTC days with value_grouping_window=hour / day). Off by default: any bound is accepted.
   */
  strictSummaryAlignment?: boolean;
}

export const noFaults = (): FaultSettings => ({
  error500Rate: 0,
  resetAfterApplyRate: 0,
  rateLimitBurst: { remaining: 0, shouldRetryHeader: null },
  latencyMs: 0,
});

const DAY = 86_400;
const IDEMPOTENCY_TTL = DAY;
const IDENTIFIER_DEDUPE_WINDOW = DAY;
const CANCEL_WINDOW = DAY;
const MAX_EVENT_AGE = 35 * DAY;
const MAX_EVENT_LEAD = 5 * 60;
const MAX_BODY_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------------------
// Errors

/** An error answer in Stripe's shape: `{ error: { type, code, message, param } }`. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }

  toJSON() {
    return { error: { type: this.type, code: this.code, message: this.message, param: this.param } };
  }
}

const invalid = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, 'invalid_request_error', message, code, param);
/** A referenced object that does not exist: 404 when it is the URL's object, 400 when a parameter names it. */
const noSuch = (resource: string, id: string, param: string | null = null) =>
  new ApiError(param ? 400 : 404, 'invalid_request_error', `No such ${resource}: '${id}'`, 'resource_missing', param ?? 'id');

// ---------------------------------------------------------------------------------------------------------
// Form decoding: Stripe's v1 API takes application/x-www-form-urlencoded bodies (and GET query strings)
// with bracket notation for nesting: `items[0][price]=…`, `metadata[k]=v`, `expand[0]=tiers`.

type FormValue = string | FormValue[] | FormObject;
interface FormObject {
  [key: string]: FormValue;
}
type FormTree = Map<string, FormTree | string>;

const INDEX = /^(0|[1-9]\d*)$/;

function splitBracketKey(key: string): string[] {
  const match = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  if (!match) throw invalid(`Invalid parameter name: ${key}`, key);
  return [match[1], ...[...match[2].matchAll(/\[([^[\]]*)\]/g)].map((segment) => segment[1])];
}

/** Builds nested objects from bracketed keys; a node whose keys are all indexes becomes an array. Values stay strings. */
export function parseFormEncoded(text: string): FormObject {
  const root: FormTree = new Map();
  for (const [key, value] of new URLSearchParams(text)) {
    const segments = splitBracketKey(key);
    let node = root;
    segments.forEach((rawSegment, i) => {
      const segment = rawSegment === '' ? String(node.size) : rawSegment; // `a[]=x` appends
      const existing = node.get(segment);
      if (i === segments.length - 1) {
        if (existing instanceof Map) throw invalid(`Invalid parameters: ${key} is given both as a value and as an object.`, key);
        node.set(segment, value);
        return;
      }
      if (typeof existing === 'string') throw invalid(`Invalid parameters: ${key} is given both as a value and as an object.`, key);
      if (existing) node = existing;
      else {
        const child: FormTree = new Map();
        node.set(segment, child);
        node = child;
      }
    });
  }
  return toFormObject(root);
}

function toFormValue(node: FormTree | string): FormValue {
  if (typeof node === 'string') return node;
  const keys = [...node.keys()];
  if (keys.every((key) => INDEX.test(key))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((key) => toFormValue(node.get(key)!));
  }
  return toFormObject(node);
}

function toFormObject(node: FormTree): FormObject {
  // fromEntries defines own properties: a `__proto__` key cannot reach a prototype.
  return Object.fromEntries([...node].map(([key, child]) => [key, toFormValue(child)]));
}

/** Typed, validating access to decoded parameters; `name` builds Stripe's `a[b][0]` names for errors. */
class Params {
  constructor(
    readonly data: FormObject,
    private readonly prefix = '',
  ) {}

  name(key: string): string {
    return this.prefix ? `${this.prefix}[${key}]` : key;
  }

  raw(key: string): FormValue | undefined {
    return Object.hasOwn(this.data, key) ? this.data[key] : undefined;
  }

  has(key: string): boolean {
    const value = this.raw(key);
    return value !== undefined && value !== '';
  }

  string(key: string, options: { required?: boolean; oneOf?: readonly string[] } = {}): string | undefined {
    const value = this.raw(key);
    if (value === undefined || value === '') {
      if (options.required) throw invalid(`Missing required param: ${this.name(key)}.`, this.name(key), 'parameter_missing');
      return undefined;
    }
    if (typeof value !== 'string') throw invalid(`Invalid string: ${this.name(key)}`, this.name(key));
    if (options.oneOf && !options.oneOf.includes(value)) {
      throw invalid(`Invalid ${this.name(key)}: must be one of ${options.oneOf.join(', ')}`, this.name(key));
    }
    return value;
  }

  int(key: string, options: { required?: boolean; min?: number } = {}): number | undefined {
    const text = this.string(key, { required: options.required });
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) {
      throw invalid(`Invalid integer: ${text}`, this.name(key), 'parameter_invalid_integer');
    }
    if (options.min !== undefined && value < options.min) {
      throw invalid(`This value must be greater than or equal to ${options.min}.`, this.name(key), 'parameter_invalid_integer');
    }
    return value;
  }

  bool(key: string): boolean | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    if (text !== 'true' && text !== 'false') throw invalid(`Invalid boolean: ${text}`, this.name(key));
    return text === 'true';
  }

  object(key: string, options: { required?: boolean } = {}): Params | undefined {
    const value = this.raw(key);
    if (value === undefined || value === '') {
      if (options.required) throw invalid(`Missing required param: ${this.name(key)}.`, this.name(key), 'parameter_missing');
      return undefined;
    }
    if (typeof value === 'string' || Array.isArray(value)) throw invalid(`Invalid object: ${this.name(key)}`, this.name(key));
    return new Params(value, this.name(key));
  }

  objects(key: string, options: { required?: boolean } = {}): Params[] {
    const value = this.raw(key);
    if (value === undefined || value === '') {
      if (options.required) throw invalid(`Missing required param: ${this.name(key)}.`, this.name(key), 'parameter_missing');
      return [];
    }
    if (!Array.isArray(value)) throw invalid(`Invalid array: ${this.name(key)}`, this.name(key));
    return value.map((element, i) => {
      if (typeof element === 'string' || Array.isArray(element)) throw invalid(`Invalid object: ${this.name(key)}[${i}]`, `${this.name(key)}[${i}]`);
      return new Params(element, `${this.name(key)}[${i}]`);
    });
  }

  strings(key: string): string[] {
    const value = this.raw(key);
    if (value === undefined || value === '') return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((element, i) => {
      if (typeof element !== 'string') throw invalid(`Invalid string: ${this.name(key)}[${i}]`, `${this.name(key)}[${i}]`);
      return element;
    });
  }

  /** `metadata[k]=v` pairs; `metadata=` (empty) clears all, `metadata[k]=` (empty) removes k: null / '' mark those. */
  metadata(key = 'metadata'): Record<string, string> | null | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (value === '') return null;
    if (typeof value === 'string' || Array.isArray(value)) throw invalid(`Invalid hash: ${this.name(key)}`, this.name(key));
    const entries = Object.entries(value);
    if (entries.length > 50) throw invalid('Metadata can have at most 50 keys.', this.name(key));
    for (const [k, v] of entries) {
      if (typeof v !== 'string') throw invalid(`Invalid metadata value for ${k}`, `${this.name(key)}[${k}]`);
      if (k.length > 40) throw invalid(`Metadata keys can be at most 40 characters: ${k}`, `${this.name(key)}[${k}]`);
      if (v.length > 500) throw invalid(`Metadata values can be at most 500 characters: ${k}`, `${this.name(key)}[${k}]`);
    }
    return Object.fromEntries(entries) as Record<string, string>;
  }
}

function mergeMetadata(current: Record<string, string>, update: Record<string, string> | null | undefined): Record<string, string> {
  if (update === undefined) return current;
  if (update === null) return {};
  const merged = { ...current };
  for (const [key, value] of Object.entries(update)) {
    if (value === '') delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** Canonical JSON (sorted keys) so that "same parameters" does not depend on their order in the body. */
function canonical(value: FormValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  return `{${Object.keys(value)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`)
    .join(',')}}`;
}

// ---------------------------------------------------------------------------------------------------------
// Exact money: amounts are minor units with up to 12 decimal places (Stripe's `*_decimal` fields), held as
// BigInt scaled by 10^12. No float ever touches an amount; a line is rounded once, half away from zero.

const DECIMALS = 12;
const SCALE = 10n ** BigInt(DECIMALS);

function parseDecimal(text: string, param: string): bigint {
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match || (match[2]?.length ?? 0) > DECIMALS) {
    throw invalid(`Invalid decimal: ${text} (a non-negative number with at most ${DECIMALS} decimal places)`, param);
  }
  return BigInt(match[1]) * SCALE + BigInt((match[2] ?? '').padEnd(DECIMALS, '0'));
}

function formatDecimal(value: bigint): string {
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  const fraction = (abs % SCALE).toString().padStart(DECIMALS, '0').replace(/0+$/, '');
  return `${sign}${abs / SCALE}${fraction ? `.${fraction}` : ''}`;
}

function roundToMinorUnits(value: bigint): number {
  const abs = value < 0n ? -value : value;
  const rounded = (abs + SCALE / 2n) / SCALE;
  return Number(value < 0n ? -rounded : rounded);
}

/** The integer a scaled decimal stands for, or null when it has a fraction (Stripe's `unit_amount` is then null). */
function wholeOrNull(value: bigint | null): number | null {
  return value !== null && value % SCALE === 0n ? Number(value / SCALE) : null;
}

// ---------------------------------------------------------------------------------------------------------
// Records (internal state) — rendered into Stripe's JSON shapes on the way out.

interface CustomerRecord {
  id: string;
  created: number;
  email: string | null;
  name: string | null;
  description: string | null;
  phone: string | null;
  metadata: Record<string, string>;
  deleted: boolean;
}

interface ProductRecord {
  id: string;
  created: number;
  updated: number;
  name: string;
  active: boolean;
  description: string | null;
  metadata: Record<string, string>;
}

type Formula = 'sum' | 'count' | 'last';

interface MeterRecord {
  id: string;
  created: number;
  updated: number;
  displayName: string;
  eventName: string;
  formula: Formula;
  customerKey: string;
  valueKey: string;
  eventTimeWindow: string | null;
  status: 'active' | 'inactive';
  deactivatedAt: number | null;
}

interface TierRecord {
  upTo: number | null;
  unit: bigint | null;
  flat: bigint | null;
}

interface PriceRecord {
  id: string;
  created: number;
  active: boolean;
  currency: string;
  product: string;
  lookupKey: string | null;
  nickname: string | null;
  metadata: Record<string, string>;
  billingScheme: 'per_unit' | 'tiered';
  tiersMode: 'graduated' | 'volume' | null;
  tiers: TierRecord[] | null;
  unitAmount: bigint | null;
  recurring: { interval: Interval; intervalCount: number; usageType: 'licensed' | 'metered'; meter: string | null } | null;
}

type Interval = 'day' | 'week' | 'month' | 'year';

interface MeterEventRecord extends EmulatedMeterEvent {
  meterId: string;
  payload: Record<string, string>;
  created: number;
}

interface ItemRecord {
  id: string;
  created: number;
  price: string;
  quantity: number | null;
  metadata: Record<string, string>;
}

interface SubscriptionRecord {
  id: string;
  customer: string;
  created: number;
  startDate: number;
  billingCycleAnchor: number;
  status: 'active' | 'canceled';
  canceledAt: number | null;
  endedAt: number | null;
  cancelAt: number | null;
  cancelAtPeriodEnd: boolean;
  metadata: Record<string, string>;
  items: ItemRecord[];
}

interface CheckoutRecord {
  id: string;
  created: number;
  mode: string;
  status: 'open' | 'complete' | 'expired';
  customer: string | null;
  customerEmail: string | null;
  clientReferenceId: string | null;
  lineItems: Array<{ price: string; quantity: number | null }>;
  successUrl: string | null;
  cancelUrl: string | null;
  metadata: Record<string, string>;
  subscriptionMetadata: Record<string, string>;
  subscription: string | null;
}

interface StoredResponse {
  method: string;
  path: string;
  params: string;
  status: number;
  body: string;
  requestId: string;
  created: number;
}

interface Outcome {
  status: number;
  body: string;
  headers: Record<string, string>;
  replayed: boolean;
}

interface RequestContext {
  method: string;
  path: string;
  params: Params;
  match: RegExpExecArray;
}

type Handler = (context: RequestContext) => unknown;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomToken(length = 24): string {
  let out = '';
  for (const byte of randomBytes(length)) out += ALPHABET[byte % ALPHABET.length];
  return out;
}

const newId = (prefix: string) => `${prefix}_${randomToken()}`;

/** `anchor` moved by `steps` intervals in UTC; months and years keep the anchor's day, clamped to the month's end. */
function addIntervals(anchor: number, interval: Interval, steps: number): number {
  const date = new Date(anchor * 1000);
  if (interval === 'day' || interval === 'week') return anchor + steps * (interval === 'day' ? DAY : 7 * DAY);
  const months = interval === 'month' ? steps : 12 * steps;
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(date.getUTCDate(), lastDay);
  return Date.UTC(year, month, day, date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()) / 1000;
}

const list = (data: unknown[], url: string, hasMore = false) => ({ object: 'list', data, has_more: hasMore, url });

// ---------------------------------------------------------------------------------------------------------

export class StripeEmulator {
  /** Mutable: tests set it (or parts of it) at any time; it is read per request. */
  faults: FaultSettings = noFaults();
  readonly requests: LoggedRequest[] = [];
  readonly webhookSecret: string;

  private readonly server: Server;
  private boundPort = 0;
  private clock: number | null = null;
  private stopped = false;

  private readonly customers = new Map<string, CustomerRecord>();
  private readonly products = new Map<string, ProductRecord>();
  private readonly meters = new Map<string, MeterRecord>();
  private readonly prices = new Map<string, PriceRecord>();
  private readonly events: MeterEventRecord[] = [];
  /** The latest event per identifier, for the 24 h dedupe and for cancellations. */
  private readonly eventsByIdentifier = new Map<string, MeterEventRecord>();
  private readonly appliedIdentifiers = new Map<string, number>();
  private readonly subscriptions = new Map<string, SubscriptionRecord>();
  private readonly checkoutSessions = new Map<string, CheckoutRecord>();
  private readonly idempotency = new Map<string, StoredResponse>();
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];

  private constructor(
    webhookSecret: string,
    private readonly strictSummaryAlignment: boolean,
  ) {
    this.webhookSecret = webhookSecret;
    this.server = createServer((req, res) => {
      // A bug in the emulator must fail the request, not the test process (unhandled rejection).
      this.handle(req, res).catch(() => res.destroy());
    });
    // The SDK keeps sockets alive; a server closing them first races the next request into ECONNRESET
    // (which the SDK retries), so keep them longer than any test. stop() closes them all.
    this.server.keepAliveTimeout = 60_000;
    this.defineRoutes();
  }

  static async start(options: EmulatorOptions = {}): Promise<StripeEmulator> {
    const emulator = new StripeEmulator(options.webhookSecret ?? `whsec_${randomToken(32)}`, options.strictSummaryAlignment ?? false);
    await new Promise<void>((resolve, reject) => {
      emulator.server.once('error', reject);
      emulator.server.listen(0, '127.0.0.1', () => resolve());
    });
    emulator.boundPort = (emulator.server.address() as AddressInfo).port;
    return emulator;
  }

  get port(): number {
    return this.boundPort;
  }

  /** What STRIPE_API_URL is set to. */
  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Overrides "now" (unix seconds) for timestamp windows, periods, idempotency expiry; null = real time. */
  setClock(nowSeconds: number | null): void {
    this.clock = nowSeconds;
  }

  now(): number {
    return this.clock ?? Math.floor(Date.now() / 1000);
  }

  // -------------------------------------------------------------------------------------------------------
  // Inspection

  meterEvents(filter: { eventName?: string; customer?: string } = {}): EmulatedMeterEvent[] {
    return this.events
      .filter((event) => (filter.eventName === undefined || event.eventName === filter.eventName) && (filter.customer === undefined || event.customer === filter.customer))
      .map(({ identifier, eventName, customer, value, timestamp, cancelled }) => ({ identifier, eventName, customer, value, timestamp, cancelled }));
  }

  /** How many times each identifier was applied (a replay is not an application): Tollgate must keep it ≤ 1. */
  appliedIdentifierCounts(): Map<string, number> {
    return new Map(this.appliedIdentifiers);
  }

  /** The meter's aggregate (its formula; `sum` for Tollgate's meters) of non-cancelled events in [start, end). */
  meterTotal(meterId: string, customer: string, startSeconds: number, endSeconds: number): number {
    const meter = this.meters.get(meterId);
    if (!meter) throw new Error(`No such meter: ${meterId}`);
    return this.aggregate(meter, customer, startSeconds, endSeconds);
  }

  // -------------------------------------------------------------------------------------------------------
  // Webhooks

  /** A `Stripe-Signature` header: `t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`. Real time by default,
   * since the receiver checks the timestamp against its own clock. */
  signWebhook(payload: string, timestampSeconds: number = Math.floor(Date.now() / 1000)): string {
    const signature = createHmac('sha256', this.webhookSecret).update(`${timestampSeconds}.${payload}`, 'utf8').digest('hex');
    return `t=${timestampSeconds},v1=${signature}`;
  }

  /** Wraps `event` in a Stripe event envelope, signs it and POSTs it to `url`. */
  async postWebhook(
    url: string,
    /** `created` (Unix seconds) backdates the event, as a late, out-of-order delivery looks. */
    event: { type: string; data: { object: unknown; previous_attributes?: unknown }; created?: number },
  ): Promise<{ status: number; body: string; event: StripeObject }> {
    const envelope = {
      id: newId('evt'),
      object: 'event',
      api_version: EMULATED_API_VERSION,
      created: event.created ?? this.now(),
      data: event.data,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: event.type,
    };
    const payload = JSON.stringify(envelope, null, 2);
    const response = await postRaw(url, payload, {
      'Content-Type': 'application/json; charset=utf-8',
      'Stripe-Signature': this.signWebhook(payload),
      'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    });
    return { ...response, event: envelope };
  }

  // -------------------------------------------------------------------------------------------------------
  // Checkout completion (what the customer paying on the hosted page would cause)

  async completeCheckout(sessionId: string): Promise<StripeObject> {
    const session = this.checkoutSessions.get(sessionId);
    if (!session) throw new Error(`No such checkout session: ${sessionId}`);
    if (session.status !== 'open') throw new Error(`Checkout session ${sessionId} is ${session.status}`);
    const customerId = session.customer ?? this.insertCustomer({ email: session.customerEmail }).id;
    const subscription = this.buildSubscription({
      customer: customerId,
      items: session.lineItems,
      metadata: session.subscriptionMetadata,
      anchor: null,
    });
    this.subscriptions.set(subscription.id, subscription);
    Object.assign(session, { status: 'complete', customer: customerId, subscription: subscription.id });
    return this.renderSubscription(subscription, []);
  }

  // -------------------------------------------------------------------------------------------------------
  // HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', 'http://emulator');
    const method = (req.method ?? 'GET').toUpperCase();
    const idempotencyKey = header(req, 'idempotency-key');
    const logged: LoggedRequest = { method, path: target.pathname, idempotencyKey, status: 0, replayed: false };
    this.requests.push(logged);
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      req.socket.destroy();
      return;
    }
    const inScope = (settings: FaultSettings) => !settings.onlyPaths || settings.onlyPaths.test(target.pathname);
    if (inScope(this.faults) && this.faults.latencyMs > 0) await sleep(this.faults.latencyMs);
    if (this.stopped || res.destroyed) return;
    // Read after the delay: a test may have changed the faults meanwhile.
    const faults = this.faults;
    const faulty = inScope(faults);

    const requestId = newId('req');
    const common: Record<string, string> = {
      'Request-Id': requestId,
      'Stripe-Version': header(req, 'stripe-version') ?? EMULATED_API_VERSION,
      ...(idempotencyKey !== null && { 'Idempotency-Key': idempotencyKey }),
    };
    const answer = (outcome: Outcome) => {
      logged.status = outcome.status;
      logged.replayed = outcome.replayed;
      res.writeHead(outcome.status, {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(outcome.body)),
        ...common,
        ...outcome.headers,
      });
      res.end(outcome.body);
    };

    // Faults that refuse the request come before anything is applied: a 429 burst, then a 500.
    if (faulty && faults.rateLimitBurst.remaining > 0) {
      faults.rateLimitBurst.remaining -= 1;
      const error = new ApiError(429, 'invalid_request_error', 'Request rate limit exceeded. (emulated)', 'rate_limit');
      const retry = faults.rateLimitBurst.shouldRetryHeader;
      return answer({ ...errorOutcome(error), headers: retry === null ? {} : { 'Stripe-Should-Retry': String(retry) } });
    }
    if (faulty && faults.error500Rate > 0 && Math.random() < faults.error500Rate) {
      return answer(errorOutcome(new ApiError(500, 'api_error', 'Sorry, something went wrong. (emulated: the request was not applied)')));
    }

    const outcome = this.apply(method, target, body, req, requestId);
    // The answer to an applied (or replayed) request is lost: the client cannot tell whether it happened.
    if (faulty && faults.resetAfterApplyRate > 0 && Math.random() < faults.resetAfterApplyRate) {
      logged.replayed = outcome.replayed;
      req.socket.destroy();
      return;
    }
    answer(outcome);
  }

  /** Everything after the faults: auth, routing, idempotency, the handler. Synchronous, so requests never interleave. */
  private apply(method: string, target: URL, body: string, req: IncomingMessage, requestId: string): Outcome {
    if (method === 'GET' && /^\/checkout\/[^/]+$/.test(target.pathname)) return this.checkoutPage(target.pathname.slice('/checkout/'.length));
    const authError = checkAuthorization(header(req, 'authorization'));
    if (authError) return errorOutcome(authError);
    const route = this.routes.find((candidate) => candidate.method === method && candidate.pattern.test(target.pathname));
    if (!route) {
      return errorOutcome(new ApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${target.pathname}).`));
    }
    let params: Params;
    try {
      params = new Params(parseFormEncoded(method === 'POST' ? body : target.search.slice(1)));
    } catch (error) {
      return errorOutcome(error);
    }
    const run = (): Outcome => {
      try {
        const result = route.handler({ method, path: target.pathname, params, match: route.pattern.exec(target.pathname)! });
        return { status: 200, body: JSON.stringify(result, null, 2), headers: {}, replayed: false };
      } catch (error) {
        return errorOutcome(error);
      }
    };
    const key = header(req, 'idempotency-key');
    // Stripe honours Idempotency-Key on POST only.
    if (method !== 'POST' || key === null) return run();
    if (key.length > 255) return errorOutcome(invalid('Idempotency keys can be at most 255 characters long.', null, 'idempotency_key_too_long'));

    const now = this.now();
    for (const [storedKey, stored] of this.idempotency) if (now - stored.created >= IDEMPOTENCY_TTL) this.idempotency.delete(storedKey);
    const fingerprint = canonical(params.data);
    const stored = this.idempotency.get(key);
    if (stored) {
      if (stored.method !== method || stored.path !== target.pathname || stored.params !== fingerprint) {
        return errorOutcome(
          new ApiError(
            400,
            'idempotency_error',
            `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
          ),
        );
      }
      return { status: stored.status, body: stored.body, headers: { 'Idempotent-Replayed': 'true', 'Original-Request': stored.requestId }, replayed: true };
    }
    const outcome = run();
    // Only requests that did something are remembered; a refused request (validation) may be retried as is.
    if (outcome.status < 300) {
      this.idempotency.set(key, { method, path: target.pathname, params: fingerprint, status: outcome.status, body: outcome.body, requestId, created: now });
    }
    return outcome;
  }

  private checkoutPage(id: string): Outcome {
    const session = this.checkoutSessions.get(id);
    const text = session
      ? `<!doctype html><title>Emulated Checkout</title><h1>Emulated Stripe Checkout</h1><p>${escapeHtml(id)}: ${session.status}</p>`
      : '<!doctype html><title>Not found</title><p>No such checkout session</p>';
    return { status: session ? 200 : 404, body: text, headers: { 'Content-Type': 'text/html; charset=utf-8' }, replayed: false };
  }

  private route(method: string, path: string, handler: Handler): void {
    // `:id` segments match one path segment (Stripe ids are percent-encoded by the SDK; ours never need it).
    const pattern = new RegExp(`^${path.replace(/:[a-z]+/g, '([^/]+)')}$`);
    this.routes.push({ method, pattern, handler });
  }

  private defineRoutes(): void {
    const id = (context: RequestContext, index = 1) => decodeURIComponent(context.match[index]);
    this.route('POST', '/v1/customers', ({ params }) => this.renderCustomer(this.createCustomer(params)));
    this.route('GET', '/v1/customers', (context) => this.listCustomers(context));
    this.route('GET', '/v1/customers/:id', (context) => this.renderCustomer(this.customer(id(context))));
    this.route('POST', '/v1/customers/:id', (context) => this.renderCustomer(this.updateCustomer(this.customer(id(context)), context.params)));
    this.route('DELETE', '/v1/customers/:id', (context) => this.deleteCustomer(this.customer(id(context))));

    this.route('POST', '/v1/products', ({ params }) => this.renderProduct(this.createProduct(params)));
    this.route('GET', '/v1/products', (context) => this.listProducts(context));
    this.route('GET', '/v1/products/:id', (context) => this.renderProduct(this.product(id(context))));
    this.route('POST', '/v1/products/:id', (context) => this.renderProduct(this.updateProduct(this.product(id(context)), context.params)));

    this.route('POST', '/v1/prices', ({ params }) => this.renderPrice(this.createPrice(params), expandsTiers(params, '')));
    this.route('GET', '/v1/prices', (context) => this.listPrices(context));
    this.route('GET', '/v1/prices/:id', (context) => this.renderPrice(this.price(id(context)), expandsTiers(context.params, '')));
    this.route('POST', '/v1/prices/:id', (context) => this.renderPrice(this.updatePrice(this.price(id(context)), context.params), expandsTiers(context.params, '')));

    this.route('POST', '/v1/billing/meters', ({ params }) => this.renderMeter(this.createMeter(params)));
    this.route('GET', '/v1/billing/meters', (context) => this.listMeters(context));
    this.route('GET', '/v1/billing/meters/:id', (context) => this.renderMeter(this.meter(id(context))));
    this.route('POST', '/v1/billing/meters/:id', (context) => this.renderMeter(this.updateMeter(this.meter(id(context)), context.params)));
    this.route('POST', '/v1/billing/meters/:id/deactivate', (context) => this.renderMeter(this.setMeterStatus(this.meter(id(context)), 'inactive')));
    this.route('POST', '/v1/billing/meters/:id/reactivate', (context) => this.renderMeter(this.setMeterStatus(this.meter(id(context)), 'active')));
    this.route('GET', '/v1/billing/meters/:id/event_summaries', (context) => this.eventSummaries(this.meter(id(context)), context));
    this.route('POST', '/v1/billing/meter_events', ({ params }) => this.createMeterEvent(params));
    this.route('POST', '/v1/billing/meter_event_adjustments', ({ params }) => this.createAdjustment(params));

    this.route('POST', '/v1/subscriptions', ({ params }) => this.createSubscription(params));
    this.route('GET', '/v1/subscriptions', (context) => this.listSubscriptions(context));
    this.route('GET', '/v1/subscriptions/:id', (context) => this.renderSubscription(this.subscription(id(context)), context.params.strings('expand')));
    this.route('POST', '/v1/subscriptions/:id', (context) => this.updateSubscription(this.subscription(id(context)), context.params));
    this.route('DELETE', '/v1/subscriptions/:id', (context) => this.cancelSubscription(this.subscription(id(context)), context.params));

    this.route('POST', '/v1/invoices/create_preview', ({ params }) => this.previewInvoice(params));

    this.route('POST', '/v1/checkout/sessions', ({ params }) => this.renderCheckout(this.createCheckout(params)));
    this.route('GET', '/v1/checkout/sessions/:id', (context) => this.renderCheckout(this.checkout(id(context))));
  }

  // -------------------------------------------------------------------------------------------------------
  // Lookups

  private customer(id: string, param: string | null = null): CustomerRecord {
    const customer = this.customers.get(id);
    if (!customer) throw noSuch('customer', id, param);
    return customer;
  }

  private liveCustomer(id: string, param: string): CustomerRecord {
    const customer = this.customer(id, param);
    if (customer.deleted) throw invalid(`No such customer: '${id}' (deleted)`, param, 'resource_missing');
    return customer;
  }

  private product(id: string, param: string | null = null): ProductRecord {
    const product = this.products.get(id);
    if (!product) throw noSuch('product', id, param);
    return product;
  }

  private price(id: string, param: string | null = null): PriceRecord {
    const price = this.prices.get(id);
    if (!price) throw noSuch('price', id, param);
    return price;
  }

  private meter(id: string, param: string | null = null): MeterRecord {
    const meter = this.meters.get(id);
    if (!meter) throw noSuch('billing meter', id, param);
    return meter;
  }

  private subscription(id: string): SubscriptionRecord {
    const subscription = this.subscriptions.get(id);
    if (!subscription) throw noSuch('subscription', id);
    this.settle(subscription);
    return subscription;
  }

  private checkout(id: string): CheckoutRecord {
    const session = this.checkoutSessions.get(id);
    if (!session) throw noSuch('checkout.session', id);
    return session;
  }

  // -------------------------------------------------------------------------------------------------------
  // Customers

  private insertCustomer(fields: Partial<CustomerRecord>): CustomerRecord {
    const customer: CustomerRecord = {
      id: newId('cus'),
      created: this.now(),
      email: null,
      name: null,
      description: null,
      phone: null,
      metadata: {},
      deleted: false,
      ...fields,
    };
    this.customers.set(customer.id, customer);
    return customer;
  }

  private createCustomer(params: Params): CustomerRecord {
    const fields = {
      email: params.string('email') ?? null,
      name: params.string('name') ?? null,
      description: params.string('description') ?? null,
      phone: params.string('phone') ?? null,
      metadata: mergeMetadata({}, params.metadata()),
    };
    return this.insertCustomer(fields);
  }

  private updateCustomer(customer: CustomerRecord, params: Params): CustomerRecord {
    if (customer.deleted) throw invalid('This customer has been deleted.', null, 'resource_missing');
    const metadata = mergeMetadata(customer.metadata, params.metadata());
    for (const key of ['email', 'name', 'description', 'phone'] as const) {
      if (params.raw(key) !== undefined) customer[key] = params.string(key) ?? null; // '' unsets
    }
    customer.metadata = metadata;
    return customer;
  }

  private deleteCustomer(customer: CustomerRecord): StripeObject {
    customer.deleted = true;
    return { id: customer.id, object: 'customer', deleted: true };
  }

  private renderCustomer(customer: CustomerRecord): StripeObject {
    if (customer.deleted) return { id: customer.id, object: 'customer', deleted: true };
    return {
      id: customer.id,
      object: 'customer',
      address: null,
      balance: 0,
      created: customer.created,
      currency: null,
      default_source: null,
      delinquent: false,
      description: customer.description,
      email: customer.email,
      invoice_prefix: customer.id.slice(4, 12).toUpperCase(),
      invoice_settings: { custom_fields: null, default_payment_method: null, footer: null, rendering_options: null },
      livemode: false,
      metadata: customer.metadata,
      name: customer.name,
      phone: customer.phone,
      preferred_locales: [],
      shipping: null,
      tax_exempt: 'none',
      test_clock: null,
    };
  }

  private listCustomers({ params, path }: RequestContext): StripeObject {
    const email = params.string('email');
    const found = [...this.customers.values()].filter((customer) => !customer.deleted && (email === undefined || customer.email === email));
    return paginate(found.reverse(), params, path, (customer) => customer.id, (customer) => this.renderCustomer(customer));
  }

  // -------------------------------------------------------------------------------------------------------
  // Products

  private createProduct(params: Params): ProductRecord {
    const id = params.string('id') ?? newId('prod');
    if (!/^[A-Za-z0-9_-]{1,250}$/.test(id)) throw invalid(`Invalid product id: ${id}`, 'id');
    const name = params.string('name', { required: true })!;
    if (this.products.has(id)) throw invalid('Product already exists.', 'id', 'resource_already_exists');
    const now = this.now();
    const product: ProductRecord = {
      id,
      created: now,
      updated: now,
      name,
      active: params.bool('active') ?? true,
      description: params.string('description') ?? null,
      metadata: mergeMetadata({}, params.metadata()),
    };
    this.products.set(id, product);
    return product;
  }

  private updateProduct(product: ProductRecord, params: Params): ProductRecord {
    const metadata = mergeMetadata(product.metadata, params.metadata());
    const name = params.string('name');
    const active = params.bool('active');
    if (params.raw('description') !== undefined) product.description = params.string('description') ?? null;
    if (name !== undefined) product.name = name;
    if (active !== undefined) product.active = active;
    product.metadata = metadata;
    product.updated = this.now();
    return product;
  }

  private renderProduct(product: ProductRecord): StripeObject {
    return {
      id: product.id,
      object: 'product',
      active: product.active,
      created: product.created,
      default_price: null,
      description: product.description,
      images: [],
      livemode: false,
      marketing_features: [],
      metadata: product.metadata,
      name: product.name,
      package_dimensions: null,
      shippable: null,
      statement_descriptor: null,
      tax_code: null,
      unit_label: null,
      updated: product.updated,
      url: null,
    };
  }

  private listProducts({ params, path }: RequestContext): StripeObject {
    const active = params.bool('active');
    const ids = params.strings('ids');
    const found = [...this.products.values()].filter((product) => (active === undefined || product.active === active) && (ids.length === 0 || ids.includes(product.id)));
    return paginate(found.reverse(), params, path, (product) => product.id, (product) => this.renderProduct(product));
  }

  // -------------------------------------------------------------------------------------------------------
  // Prices

  private createPrice(params: Params): PriceRecord {
    const currency = params.string('currency', { required: true })!.toLowerCase();
    if (!/^[a-z]{3}$/.test(currency)) throw invalid(`Invalid currency: ${currency}`, 'currency');
    const productData = params.object('product_data');
    const productId = params.string('product');
    if (!productId && !productData) throw invalid('Missing required param: product.', 'product', 'parameter_missing');
    if (productId) this.product(productId, 'product');
    const productName = productData?.string('name', { required: true });

    const billingScheme = (params.string('billing_scheme', { oneOf: ['per_unit', 'tiered'] }) ?? 'per_unit') as PriceRecord['billingScheme'];
    const unitAmount = amountParam(params, 'unit_amount');
    const recurring = this.recurringParam(params.object('recurring'));

    let tiers: TierRecord[] | null = null;
    let tiersMode: PriceRecord['tiersMode'] = null;
    if (billingScheme === 'per_unit') {
      if (unitAmount === null) throw invalid('Missing required param: unit_amount (or unit_amount_decimal).', 'unit_amount', 'parameter_missing');
      if (params.has('tiers') || params.has('tiers_mode')) throw invalid('tiers and tiers_mode can only be set when billing_scheme=tiered.', 'tiers');
    } else {
      if (unitAmount !== null) throw invalid('unit_amount cannot be set when billing_scheme=tiered.', 'unit_amount');
      tiersMode = params.string('tiers_mode', { required: true, oneOf: ['graduated', 'volume'] }) as PriceRecord['tiersMode'];
      tiers = tiersParam(params.objects('tiers', { required: true }));
    }

    const lookupKey = params.string('lookup_key') ?? null;
    const transfer = params.bool('transfer_lookup_key') ?? false;
    const holder = lookupKey === null ? undefined : [...this.prices.values()].find((price) => price.active && price.lookupKey === lookupKey);
    if (holder && !transfer) {
      throw invalid(`A price (\`${holder.id}\`) already uses that lookup key. Pass transfer_lookup_key=true to move it to the new price.`, 'lookup_key');
    }
    const metadata = mergeMetadata({}, params.metadata());
    const nickname = params.string('nickname') ?? null;
    const active = params.bool('active') ?? true;

    // Everything validated: apply.
    const product = productId ?? this.createProduct(new Params({ name: productName! })).id;
    if (holder) holder.lookupKey = null;
    const price: PriceRecord = {
      id: newId('price'),
      created: this.now(),
      active,
      currency,
      product,
      lookupKey,
      nickname,
      metadata,
      billingScheme,
      tiersMode,
      tiers,
      unitAmount,
      recurring,
    };
    this.prices.set(price.id, price);
    return price;
  }

  private recurringParam(recurring: Params | undefined): PriceRecord['recurring'] {
    if (!recurring) return null;
    const interval = recurring.string('interval', { required: true, oneOf: ['day', 'week', 'month', 'year'] }) as Interval;
    const intervalCount = recurring.int('interval_count', { min: 1 }) ?? 1;
    const usageType = (recurring.string('usage_type', { oneOf: ['licensed', 'metered'] }) ?? 'licensed') as 'licensed' | 'metered';
    const meterId = recurring.string('meter') ?? null;
    // Since the 2025 APIs, usage-based prices are backed by Billing Meters.
    if (usageType === 'metered' && meterId === null) throw invalid('A meter is required for prices with usage_type=metered.', recurring.name('meter'), 'parameter_missing');
    if (usageType === 'licensed' && meterId !== null) throw invalid('meter can only be set when usage_type=metered.', recurring.name('meter'));
    if (meterId !== null) {
      const meter = this.meter(meterId, recurring.name('meter'));
      if (meter.status !== 'active') throw invalid(`The meter ${meterId} is not active.`, recurring.name('meter'));
    }
    return { interval, intervalCount, usageType, meter: meterId };
  }

  private updatePrice(price: PriceRecord, params: Params): PriceRecord {
    const metadata = mergeMetadata(price.metadata, params.metadata());
    const active = params.bool('active');
    const nickname = params.raw('nickname') !== undefined ? (params.string('nickname') ?? null) : price.nickname;
    const lookupKey = params.raw('lookup_key') !== undefined ? (params.string('lookup_key') ?? null) : price.lookupKey;
    const transfer = params.bool('transfer_lookup_key') ?? false;
    const holder = lookupKey === null ? undefined : [...this.prices.values()].find((other) => other !== price && other.active && other.lookupKey === lookupKey);
    if (holder && !transfer) throw invalid(`A price (\`${holder.id}\`) already uses that lookup key.`, 'lookup_key');
    if (holder) holder.lookupKey = null;
    Object.assign(price, { metadata, nickname, lookupKey, ...(active !== undefined && { active }) });
    return price;
  }

  private renderPrice(price: PriceRecord, withTiers: boolean): StripeObject {
    return {
      id: price.id,
      object: 'price',
      active: price.active,
      billing_scheme: price.billingScheme,
      created: price.created,
      currency: price.currency,
      custom_unit_amount: null,
      livemode: false,
      lookup_key: price.lookupKey,
      metadata: price.metadata,
      nickname: price.nickname,
      product: price.product,
      recurring: price.recurring && {
        interval: price.recurring.interval,
        interval_count: price.recurring.intervalCount,
        meter: price.recurring.meter,
        trial_period_days: null,
        usage_type: price.recurring.usageType,
      },
      tax_behavior: 'unspecified',
      // Like Stripe, `tiers` is only in the answer when expanded (expand[]=tiers).
      ...(withTiers && price.tiers && { tiers: price.tiers.map(renderTier) }),
      tiers_mode: price.tiersMode,
      transform_quantity: null,
      type: price.recurring ? 'recurring' : 'one_time',
      unit_amount: wholeOrNull(price.unitAmount),
      unit_amount_decimal: price.unitAmount === null ? null : formatDecimal(price.unitAmount),
    };
  }

  private listPrices({ params, path }: RequestContext): StripeObject {
    // Stripe lists active prices unless `active` says otherwise.
    const active = params.bool('active') ?? true;
    const lookupKeys = params.strings('lookup_keys');
    const product = params.string('product');
    const currency = params.string('currency');
    const type = params.string('type');
    const found = [...this.prices.values()].filter(
      (price) =>
        price.active === active &&
        (lookupKeys.length === 0 || (price.lookupKey !== null && lookupKeys.includes(price.lookupKey))) &&
        (product === undefined || price.product === product) &&
        (currency === undefined || price.currency === currency) &&
        (type === undefined || (type === 'recurring') === (price.recurring !== null)),
    );
    const withTiers = expandsTiers(params, 'data.');
    return paginate(found.reverse(), params, path, (price) => price.id, (price) => this.renderPrice(price, withTiers));
  }

  // -------------------------------------------------------------------------------------------------------
  // Meters

  private createMeter(params: Params): MeterRecord {
    const displayName = params.string('display_name', { required: true })!;
    const eventName = params.string('event_name', { required: true })!;
    const formula = params.object('default_aggregation', { required: true })!.string('formula', { required: true, oneOf: ['sum', 'count', 'last'] }) as Formula;
    const mapping = params.object('customer_mapping');
    const customerKey = mapping?.string('event_payload_key', { required: true }) ?? 'stripe_customer_id';
    mapping?.string('type', { required: true, oneOf: ['by_id'] });
    const valueKey = params.object('value_settings')?.string('event_payload_key', { required: true }) ?? 'value';
    const eventTimeWindow = params.string('event_time_window', { oneOf: ['day', 'hour'] }) ?? null;
    if ([...this.meters.values()].some((meter) => meter.status === 'active' && meter.eventName === eventName)) {
      throw invalid(`An active meter with event_name '${eventName}' already exists.`, 'event_name');
    }
    const now = this.now();
    const meter: MeterRecord = {
      id: `mtr_test_${randomToken(32)}`,
      created: now,
      updated: now,
      displayName,
      eventName,
      formula,
      customerKey,
      valueKey,
      eventTimeWindow,
      status: 'active',
      deactivatedAt: null,
    };
    this.meters.set(meter.id, meter);
    return meter;
  }

  private updateMeter(meter: MeterRecord, params: Params): MeterRecord {
    const displayName = params.string('display_name');
    if (displayName !== undefined) meter.displayName = displayName;
    meter.updated = this.now();
    return meter;
  }

  private setMeterStatus(meter: MeterRecord, status: MeterRecord['status']): MeterRecord {
    if (meter.status === status) throw invalid(`The meter is already ${status}.`);
    if (status === 'active' && [...this.meters.values()].some((other) => other.status === 'active' && other.eventName === meter.eventName)) {
      throw invalid(`An active meter with event_name '${meter.eventName}' already exists.`);
    }
    meter.status = status;
    meter.deactivatedAt = status === 'inactive' ? this.now() : null;
    meter.updated = this.now();
    return meter;
  }

  private renderMeter(meter: MeterRecord): StripeObject {
    return {
      id: meter.id,
      object: 'billing.meter',
      created: meter.created,
      customer_mapping: { event_payload_key: meter.customerKey, type: 'by_id' },
      default_aggregation: { formula: meter.formula },
      display_name: meter.displayName,
      event_name: meter.eventName,
      event_time_window: meter.eventTimeWindow,
      livemode: false,
      status: meter.status,
      status_transitions: { deactivated_at: meter.deactivatedAt },
      updated: meter.updated,
      value_settings: { event_payload_key: meter.valueKey },
    };
  }

  private listMeters({ params, path }: RequestContext): StripeObject {
    const status = params.string('status', { oneOf: ['active', 'inactive'] });
    const found = [...this.meters.values()].filter((meter) => status === undefined || meter.status === status);
    return paginate(found.reverse(), params, path, (meter) => meter.id, (meter) => this.renderMeter(meter));
  }

  // -------------------------------------------------------------------------------------------------------
  // Meter events, adjustments, summaries

  private createMeterEvent(params: Params): StripeObject {
    const eventName = params.string('event_name', { required: true })!;
    const meter = [...this.meters.values()].find((candidate) => candidate.status === 'active' && candidate.eventName === eventName);
    if (!meter) throw invalid(`No active meter was found with event_name '${eventName}'.`, 'event_name', 'resource_missing');
    const payloadParams = params.object('payload', { required: true })!;
    const payload: Record<string, string> = {};
    for (const [key, value] of Object.entries(payloadParams.data)) {
      if (typeof value !== 'string') throw invalid(`Invalid payload value: payload[${key}] must be a string.`, `payload[${key}]`);
      payload[key] = value;
    }
    const customerId = payloadParams.string(meter.customerKey, { required: true })!;
    this.liveCustomer(customerId, `payload[${meter.customerKey}]`);
    let value = 1;
    if (meter.formula !== 'count' || payloadParams.has(meter.valueKey)) {
      const text = payloadParams.string(meter.valueKey, { required: true })!;
      value = Number(text);
      // Meter values are whole numbers; negative ones correct earlier over-reporting.
      if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) {
        throw invalid(`Invalid value for payload[${meter.valueKey}]: '${text}' is not a whole number.`, `payload[${meter.valueKey}]`);
      }
    }

    const now = this.now();
    const timestamp = params.int('timestamp') ?? now;
    if (timestamp < now - MAX_EVENT_AGE) {
      throw invalid('The timestamp is too far in the past: meter events must be within the past 35 calendar days.', 'timestamp', 'timestamp_too_far_in_past');
    }
    if (timestamp > now + MAX_EVENT_LEAD) {
      throw invalid('The timestamp is in the future: meter events can be at most 5 minutes in the future.', 'timestamp', 'timestamp_in_future');
    }
    const identifier = params.string('identifier') ?? randomToken(32);
    if (identifier.length > 100) throw invalid('identifier can be at most 100 characters.', 'identifier');
    const previous = this.eventsByIdentifier.get(identifier);
    if (previous && now - previous.created < IDENTIFIER_DEDUPE_WINDOW) {
      throw invalid(`An event with identifier '${identifier}' already exists. Identifiers must be unique over a rolling 24-hour period.`, 'identifier', 'resource_already_exists');
    }

    const event: MeterEventRecord = { identifier, eventName, customer: customerId, value, timestamp, cancelled: false, meterId: meter.id, payload, created: now };
    this.events.push(event);
    this.eventsByIdentifier.set(identifier, event);
    this.appliedIdentifiers.set(identifier, (this.appliedIdentifiers.get(identifier) ?? 0) + 1);
    return { object: 'billing.meter_event', created: now, event_name: eventName, identifier, livemode: false, payload, timestamp };
  }

  private createAdjustment(params: Params): StripeObject {
    const eventName = params.string('event_name', { required: true })!;
    params.string('type', { required: true, oneOf: ['cancel'] });
    const identifier = params.object('cancel', { required: true })!.string('identifier', { required: true })!;
    const event = this.eventsByIdentifier.get(identifier);
    if (!event || event.eventName !== eventName) {
      throw invalid(`No meter event with identifier '${identifier}' was found for event_name '${eventName}'.`, 'cancel[identifier]', 'resource_missing');
    }
    if (this.now() - event.created >= CANCEL_WINDOW) {
      throw invalid('Meter events can only be cancelled within 24 hours of being received.', 'cancel[identifier]');
    }
    event.cancelled = true;
    // Stripe answers `pending` and processes the cancellation asynchronously; here it is already done.
    return { object: 'billing.meter_event_adjustment', cancel: { identifier }, event_name: eventName, livemode: false, status: 'pending', type: 'cancel' };
  }

  private aggregate(meter: MeterRecord, customer: string, start: number, end: number): number {
    const events = this.events.filter(
      (event) => event.meterId === meter.id && event.customer === customer && !event.cancelled && event.timestamp >= start && event.timestamp < end,
    );
    if (meter.formula === 'count') return events.length;
    if (meter.formula === 'last') {
      // `events` is in arrival order: the last one with the greatest timestamp wins.
      const last = events.reduce<MeterEventRecord | null>((best, event) => (best === null || event.timestamp >= best.timestamp ? event : best), null);
      return last?.value ?? 0;
    }
    return events.reduce((sum, event) => sum + event.value, 0);
  }

  private eventSummaries(meter: MeterRecord, { params, path }: RequestContext): StripeObject {
    const customer = params.string('customer', { required: true })!;
    const start = params.int('start_time', { required: true })!;
    const end = params.int('end_time', { required: true })!;
    if (start >= end) throw invalid('start_time must be before end_time.', 'start_time');
    const grouping = params.string('value_grouping_window', { oneOf: ['day', 'hour'] });
    const step = grouping === 'day' ? DAY : grouping === 'hour' ? 3600 : null;
    // Windows are half-open [start, end). Stripe requires minute-aligned bounds (hour/day-aligned with a
    // grouping window); the emulator accepts any bound unless started with strictSummaryAlignment.
    if (this.strictSummaryAlignment) {
      const unit = step ?? 60;
      const what = grouping === 'day' ? 'UTC day' : grouping === 'hour' ? 'hour' : 'minute';
      if (start % unit !== 0) throw invalid(`start_time must be aligned with ${what} boundaries.`, 'start_time');
      if (end % unit !== 0) throw invalid(`end_time must be aligned with ${what} boundaries.`, 'end_time');
    }
    const windows: Array<[number, number]> = [];
    if (step === null) windows.push([start, end]);
    else {
      if ((end - start) / step > 10_000) throw invalid('Too many windows: narrow start_time..end_time or use a larger value_grouping_window.', 'value_grouping_window');
      for (let from = start; from < end; from += step) windows.push([from, Math.min(from + step, end)]);
    }
    const summaries = windows.map(([from, to]) => ({
      id: `mtrusg_test_${createHash('sha256').update(`${meter.id}|${customer}|${from}|${to}`).digest('hex').slice(0, 40)}`,
      object: 'billing.meter_event_summary',
      aggregated_value: this.aggregate(meter, customer, from, to),
      end_time: to,
      livemode: false,
      meter: meter.id,
      start_time: from,
    }));
    // Stripe lists the most recent window first.
    return paginate(summaries.reverse(), params, path, (summary) => summary.id, (summary) => summary);
  }

  // -------------------------------------------------------------------------------------------------------
  // Subscriptions

  /** The billing period containing `at`: [start, anchor) first when the anchor is ahead of the start, then
   * anchor + k intervals. A canceled subscription keeps the period it ended in. */
  private periodOf(subscription: SubscriptionRecord, at = this.now()): { start: number; end: number } {
    const { interval, intervalCount } = this.cadence(subscription);
    const t = subscription.endedAt ?? at;
    const anchor = subscription.billingCycleAnchor;
    if (t < anchor) return { start: subscription.startDate, end: anchor };
    let k = 0;
    while (addIntervals(anchor, interval, (k + 1) * intervalCount) <= t) k += 1;
    return { start: addIntervals(anchor, interval, k * intervalCount), end: addIntervals(anchor, interval, (k + 1) * intervalCount) };
  }

  private cadence(subscription: SubscriptionRecord): { interval: Interval; intervalCount: number } {
    const recurring = this.prices.get(subscription.items[0].price)!.recurring!;
    return { interval: recurring.interval, intervalCount: recurring.intervalCount };
  }

  /** Applies what time did: a subscription set to cancel at period end is canceled once that moment passed. */
  private settle(subscription: SubscriptionRecord): void {
    if (subscription.status === 'active' && subscription.cancelAt !== null && this.now() >= subscription.cancelAt) {
      subscription.status = 'canceled';
      subscription.canceledAt ??= subscription.cancelAt;
      subscription.endedAt = subscription.cancelAt;
    }
  }

  /** Validates the items of a subscription: existing recurring prices, one currency and cadence, no price twice. */
  private checkItems(items: Array<{ price: string; quantity: number | null }>, param: string): void {
    if (items.length === 0) throw invalid('A subscription needs at least one item.', param, 'parameter_missing');
    const prices = items.map((item, i) => {
      const price = this.price(item.price, `${param}[${i}][price]`);
      if (!price.active) throw invalid(`The price ${price.id} is not active.`, `${param}[${i}][price]`);
      if (!price.recurring) throw invalid(`The price ${price.id} is not recurring: subscriptions need recurring prices.`, `${param}[${i}][price]`);
      if (price.recurring.usageType === 'metered' && item.quantity !== null) {
        throw invalid('Quantity should not be specified where usage_type is `metered`.', `${param}[${i}][quantity]`);
      }
      return price;
    });
    const first = prices[0];
    for (const price of prices) {
      if (price.currency !== first.currency) throw invalid('All prices of a subscription must have the same currency.', param);
      if (price.recurring!.interval !== first.recurring!.interval || price.recurring!.intervalCount !== first.recurring!.intervalCount) {
        throw invalid('All prices of a subscription must have the same recurring interval and interval_count.', param);
      }
    }
    if (new Set(prices.map((price) => price.id)).size !== prices.length) {
      throw invalid('Cannot add multiple subscription items with the same price.', param);
    }
  }

  private newItem(price: string, quantity: number | null): ItemRecord {
    const usage = this.prices.get(price)!.recurring!.usageType;
    return { id: newId('si'), created: this.now(), price, quantity: usage === 'metered' ? null : (quantity ?? 1), metadata: {} };
  }

  private buildSubscription(input: {
    customer: string;
    items: Array<{ price: string; quantity: number | null }>;
    metadata: Record<string, string>;
    anchor: number | null;
  }): SubscriptionRecord {
    this.checkItems(input.items, 'items');
    const now = this.now();
    return {
      id: newId('sub'),
      customer: input.customer,
      created: now,
      startDate: now,
      billingCycleAnchor: input.anchor ?? now,
      status: 'active',
      canceledAt: null,
      endedAt: null,
      cancelAt: null,
      cancelAtPeriodEnd: false,
      metadata: input.metadata,
      items: input.items.map((item) => this.newItem(item.price, item.quantity)),
    };
  }

  private createSubscription(params: Params): StripeObject {
    const customer = this.liveCustomer(params.string('customer', { required: true })!, 'customer');
    const items = params.objects('items', { required: true }).map((item) => ({
      price: item.string('price', { required: true })!,
      quantity: item.int('quantity', { min: 0 }) ?? null,
    }));
    params.string('payment_behavior', { oneOf: ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete'] });
    params.string('proration_behavior', { oneOf: ['always_invoice', 'create_prorations', 'none'] });
    const anchor = params.int('billing_cycle_anchor') ?? null;
    if (anchor !== null && anchor <= this.now()) throw invalid('billing_cycle_anchor cannot be in the past.', 'billing_cycle_anchor');
    const subscription = this.buildSubscription({ customer: customer.id, items, metadata: mergeMetadata({}, params.metadata()), anchor });
    if (anchor !== null) {
      const { interval, intervalCount } = this.cadence(subscription);
      if (anchor > addIntervals(subscription.startDate, interval, intervalCount)) {
        throw invalid('billing_cycle_anchor cannot be later than the next natural billing date.', 'billing_cycle_anchor');
      }
    }
    this.subscriptions.set(subscription.id, subscription);
    return this.renderSubscription(subscription, params.strings('expand'));
  }

  private updateSubscription(subscription: SubscriptionRecord, params: Params): StripeObject {
    if (subscription.status === 'canceled') {
      throw invalid('A canceled subscription can only update its cancellation_details and metadata.');
    }
    params.string('proration_behavior', { oneOf: ['always_invoice', 'create_prorations', 'none'] });
    params.string('payment_behavior', { oneOf: ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete'] });
    // Work on copies: nothing changes unless the whole update is valid. `given` is a quantity passed in
    // this request (refused on metered prices); `quantity` the one the item had.
    type Draft = { item: ItemRecord | null; price: string; quantity: number | null; given: number | null };
    let drafts: Draft[] = subscription.items.map((item) => ({ item, price: item.price, quantity: item.quantity, given: null }));
    for (const change of params.objects('items')) {
      const itemId = change.string('id');
      const price = change.string('price');
      const quantity = change.int('quantity', { min: 0 }) ?? null;
      if (itemId === undefined) {
        if (price === undefined) throw invalid('Missing required param: price.', change.name('price'), 'parameter_missing');
        drafts.push({ item: null, price, quantity, given: quantity });
        continue;
      }
      const draft = drafts.find((candidate) => candidate.item?.id === itemId);
      if (!draft) throw invalid(`No such subscription item: '${itemId}'`, change.name('id'), 'resource_missing');
      if (change.bool('deleted')) {
        drafts = drafts.filter((candidate) => candidate !== draft);
        continue;
      }
      if (price !== undefined) draft.price = price;
      if (quantity !== null) draft.quantity = draft.given = quantity;
    }
    this.checkItems(
      drafts.map((draft) => ({ price: draft.price, quantity: draft.given })),
      'items',
    );
    const metadata = mergeMetadata(subscription.metadata, params.metadata());
    const cancelAtPeriodEnd = params.bool('cancel_at_period_end');

    subscription.items = drafts.map((draft) => {
      if (!draft.item) return this.newItem(draft.price, draft.quantity);
      const metered = this.prices.get(draft.price)!.recurring!.usageType === 'metered';
      // Changing an item's price keeps the item (and its id), as Stripe does.
      return { ...draft.item, price: draft.price, quantity: metered ? null : (draft.quantity ?? 1) };
    });
    subscription.metadata = metadata;
    if (cancelAtPeriodEnd !== undefined) {
      subscription.cancelAtPeriodEnd = cancelAtPeriodEnd;
      subscription.cancelAt = cancelAtPeriodEnd ? this.periodOf(subscription).end : null;
    }
    return this.renderSubscription(subscription, params.strings('expand'));
  }

  private cancelSubscription(subscription: SubscriptionRecord, params: Params): StripeObject {
    if (subscription.status === 'canceled') throw invalid(`The subscription ${subscription.id} is already canceled.`);
    const now = this.now();
    Object.assign(subscription, { status: 'canceled', canceledAt: now, endedAt: now, cancelAt: null, cancelAtPeriodEnd: false });
    return this.renderSubscription(subscription, params.strings('expand'));
  }

  private listSubscriptions({ params, path }: RequestContext): StripeObject {
    const customer = params.string('customer');
    const price = params.string('price');
    // Like Stripe, canceled subscriptions are listed only when asked for (status=canceled or all).
    const status = params.string('status', { oneOf: ['active', 'canceled', 'all', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'] });
    const found = [...this.subscriptions.values()].filter((subscription) => {
      this.settle(subscription);
      const statusMatches = status === 'all' || (status === undefined ? subscription.status !== 'canceled' : status === 'ended' ? subscription.status === 'canceled' : subscription.status === status);
      return statusMatches && (customer === undefined || subscription.customer === customer) && (price === undefined || subscription.items.some((item) => item.price === price));
    });
    const expand = params.strings('expand').map((path) => path.replace(/^data\./, ''));
    return paginate(found.reverse(), params, path, (subscription) => subscription.id, (subscription) => this.renderSubscription(subscription, expand));
  }

  private renderSubscription(subscription: SubscriptionRecord, expand: string[]): StripeObject {
    const period = this.periodOf(subscription);
    const withTiers = expand.includes('items.data.price.tiers');
    const items = subscription.items.map((item) => {
      const price = this.prices.get(item.price)!;
      return {
        id: item.id,
        object: 'subscription_item',
        billing_thresholds: null,
        created: item.created,
        // Since the 2025 APIs the period lives on the items.
        current_period_end: period.end,
        current_period_start: period.start,
        discounts: [],
        metadata: item.metadata,
        plan: renderPlan(price),
        price: this.renderPrice(price, withTiers),
        ...(item.quantity !== null && { quantity: item.quantity }),
        subscription: subscription.id,
        tax_rates: [],
      };
    });
    return {
      id: subscription.id,
      object: 'subscription',
      application: null,
      billing_cycle_anchor: subscription.billingCycleAnchor,
      billing_cycle_anchor_config: null,
      cancel_at: subscription.cancelAt,
      cancel_at_period_end: subscription.cancelAtPeriodEnd,
      canceled_at: subscription.canceledAt,
      cancellation_details: { comment: null, feedback: null, reason: subscription.canceledAt === null ? null : 'cancellation_requested' },
      collection_method: 'charge_automatically',
      created: subscription.created,
      currency: this.prices.get(subscription.items[0].price)!.currency,
      // Older API versions had the period here; kept for clients that still read it.
      current_period_end: period.end,
      current_period_start: period.start,
      customer: subscription.customer,
      days_until_due: null,
      default_payment_method: null,
      description: null,
      discounts: [],
      ended_at: subscription.endedAt,
      items: { ...list(items, `/v1/subscription_items?subscription=${subscription.id}`), total_count: items.length },
      latest_invoice: null,
      livemode: false,
      metadata: subscription.metadata,
      pending_update: null,
      schedule: null,
      start_date: subscription.startDate,
      status: subscription.status,
      test_clock: null,
      trial_end: null,
      trial_start: null,
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // Invoice preview

  /**
   * The upcoming invoice of a subscription, as Stripe bills it at the end of the current period: metered
   * items in arrears (the meter's aggregate over the current period), licensed items in advance (for the
   * next period, unless the subscription ends at this period's end).
   */
  private previewInvoice(params: Params): StripeObject {
    const customerId = params.string('customer');
    const subscriptionId = params.string('subscription');
    if (!customerId && !subscriptionId) throw invalid('Missing required param: customer (or subscription).', 'customer', 'parameter_missing');
    if (customerId) this.customer(customerId, 'customer');
    let subscription: SubscriptionRecord | undefined;
    if (subscriptionId) {
      subscription = this.subscriptions.get(subscriptionId);
      if (!subscription) throw noSuch('subscription', subscriptionId, 'subscription');
      this.settle(subscription);
      if (customerId && subscription.customer !== customerId) throw invalid(`The subscription ${subscriptionId} does not belong to ${customerId}.`, 'subscription');
    } else {
      const open = [...this.subscriptions.values()].filter((candidate) => {
        this.settle(candidate);
        return candidate.customer === customerId && candidate.status !== 'canceled';
      });
      subscription = open.sort((a, b) => this.periodOf(a).end - this.periodOf(b).end)[0];
    }
    if (!subscription || subscription.status === 'canceled') {
      throw invalid(`No upcoming invoices for customer: ${customerId ?? subscription?.customer}`, null, 'invoice_upcoming_none');
    }
    const current = subscription;
    const period = this.periodOf(current);
    const next = this.periodOf(current, period.end);
    const endsNow = current.cancelAt !== null && current.cancelAt <= period.end;
    const lines = current.items.flatMap((item) => {
      const price = this.prices.get(item.price)!;
      const product = this.products.get(price.product);
      const metered = price.recurring!.usageType === 'metered';
      if (!metered && endsNow) return [];
      let quantity: number;
      if (metered) {
        // A meter whose corrections outweigh its usage bills nothing (never a negative line).
        quantity = Math.max(0, this.aggregate(this.meters.get(price.recurring!.meter!)!, current.customer, period.start, period.end));
      } else quantity = item.quantity ?? 1;
      const amount = roundToMinorUnits(priceAmount(price, BigInt(quantity)));
      const linePeriod = metered ? period : next;
      return [
        {
          id: newId('il_tmp'),
          object: 'line_item',
          amount,
          currency: price.currency,
          description: `${quantity} × ${product?.name ?? price.product}${metered ? ' (usage)' : ''}`,
          discount_amounts: [],
          discountable: true,
          discounts: [],
          invoice: null,
          livemode: false,
          metadata: {},
          parent: {
            type: 'subscription_item_details',
            invoice_item_details: null,
            subscription_item_details: {
              invoice_item: null,
              proration: false,
              proration_details: { credited_items: null },
              subscription: current.id,
              subscription_item: item.id,
            },
          },
          period: { start: linePeriod.start, end: linePeriod.end },
          pretax_credit_amounts: [],
          // Not part of the 2026 line item (it moved to `pricing.price_details`): expanded for convenience.
          price: this.renderPrice(price, true),
          pricing: {
            type: 'price_details',
            price_details: { price: price.id, product: price.product },
            unit_amount_decimal: price.unitAmount === null ? null : formatDecimal(price.unitAmount),
          },
          quantity,
          quantity_decimal: String(quantity),
          subtotal: amount,
          taxes: [],
        },
      ];
    });
    const subtotal = lines.reduce((sum, line) => sum + line.amount, 0);
    const customer = this.customers.get(current.customer)!;
    return {
      id: `upcoming_in_${randomToken()}`,
      object: 'invoice',
      account_country: 'US',
      amount_due: Math.max(0, subtotal),
      amount_overpaid: 0,
      amount_paid: 0,
      amount_remaining: Math.max(0, subtotal),
      attempt_count: 0,
      attempted: false,
      billing_reason: 'upcoming',
      collection_method: 'charge_automatically',
      created: this.now(),
      currency: this.prices.get(current.items[0].price)!.currency,
      customer: current.customer,
      customer_email: customer.email,
      customer_name: customer.name,
      description: null,
      discounts: [],
      due_date: null,
      lines: { ...list(lines, '/v1/invoices/upcoming/lines'), total_count: lines.length },
      livemode: false,
      metadata: {},
      next_payment_attempt: period.end,
      number: null,
      parent: { type: 'subscription_details', quote_details: null, subscription_details: { metadata: current.metadata, subscription: current.id } },
      period_end: period.end,
      period_start: period.start,
      status: 'draft',
      // Moved under `parent.subscription_details` by the 2025 APIs; kept at the top for convenience.
      subscription: current.id,
      subtotal,
      subtotal_excluding_tax: subtotal,
      total: subtotal,
      total_discount_amounts: [],
      total_excluding_tax: subtotal,
      total_taxes: [],
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // Checkout

  private createCheckout(params: Params): CheckoutRecord {
    const mode = params.string('mode', { required: true, oneOf: ['payment', 'setup', 'subscription'] })!;
    const customerId = params.string('customer') ?? null;
    if (customerId !== null) this.liveCustomer(customerId, 'customer');
    const lineItems = params.objects('line_items', { required: mode !== 'setup' }).map((item) => ({
      price: item.string('price', { required: true })!,
      quantity: item.int('quantity', { min: 1 }) ?? null,
    }));
    if (mode === 'subscription') this.checkItems(lineItems, 'line_items');
    const session: CheckoutRecord = {
      id: `cs_test_${randomToken(58)}`,
      created: this.now(),
      mode,
      status: 'open',
      customer: customerId,
      customerEmail: params.string('customer_email') ?? null,
      clientReferenceId: params.string('client_reference_id') ?? null,
      lineItems,
      successUrl: params.string('success_url') ?? null,
      cancelUrl: params.string('cancel_url') ?? null,
      metadata: mergeMetadata({}, params.metadata()),
      subscriptionMetadata: mergeMetadata({}, params.object('subscription_data')?.metadata()),
      subscription: null,
    };
    this.checkoutSessions.set(session.id, session);
    return session;
  }

  private renderCheckout(session: CheckoutRecord): StripeObject {
    return {
      id: session.id,
      object: 'checkout.session',
      cancel_url: session.cancelUrl,
      client_reference_id: session.clientReferenceId,
      created: session.created,
      currency: session.lineItems.length > 0 ? (this.prices.get(session.lineItems[0].price)?.currency ?? null) : null,
      customer: session.customer,
      customer_email: session.customerEmail,
      expires_at: session.created + DAY,
      livemode: false,
      metadata: session.metadata,
      mode: session.mode,
      payment_status: session.status === 'complete' ? 'paid' : 'unpaid',
      status: session.status,
      subscription: session.subscription,
      success_url: session.successUrl,
      ui_mode: 'hosted',
      url: session.status === 'open' ? `${this.url}/checkout/${session.id}` : null,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pricing

function amountParam(params: Params, key: 'unit_amount' | 'flat_amount'): bigint | null {
  const whole = params.int(key, { min: 0 });
  const decimal = params.string(`${key}_decimal`);
  if (whole !== undefined && decimal !== undefined) throw invalid(`Only one of ${key} and ${key}_decimal can be set.`, params.name(key));
  if (whole !== undefined) return BigInt(whole) * SCALE;
  return decimal === undefined ? null : parseDecimal(decimal, params.name(`${key}_decimal`));
}

function tiersParam(list: Params[]): TierRecord[] {
  if (list.length === 0) throw invalid('Missing required param: tiers.', 'tiers', 'parameter_missing');
  let previous = 0;
  return list.map((tier, i) => {
    const last = i === list.length - 1;
    const upToText = tier.string('up_to', { required: true })!;
    let upTo: number | null = null;
    if (upToText === 'inf') {
      if (!last) throw invalid('Only the last tier can have up_to=inf.', tier.name('up_to'));
    } else {
      upTo = tier.int('up_to', { min: 1 })!;
      if (last) throw invalid('The last tier must have up_to=inf.', tier.name('up_to'));
      if (upTo <= previous) throw invalid('Tiers must be in ascending order of up_to.', tier.name('up_to'));
      previous = upTo;
    }
    const unit = amountParam(tier, 'unit_amount');
    const flat = amountParam(tier, 'flat_amount');
    if (unit === null && flat === null) throw invalid('Each tier needs unit_amount(_decimal) or flat_amount(_decimal).', tier.name('unit_amount'));
    return { upTo, unit, flat };
  });
}

function renderTier(tier: TierRecord): StripeObject {
  return {
    flat_amount: wholeOrNull(tier.flat),
    flat_amount_decimal: tier.flat === null ? null : formatDecimal(tier.flat),
    unit_amount: wholeOrNull(tier.unit),
    unit_amount_decimal: tier.unit === null ? null : formatDecimal(tier.unit),
    up_to: tier.upTo,
  };
}

function renderPlan(price: PriceRecord): StripeObject {
  return {
    id: price.id,
    object: 'plan',
    active: price.active,
    amount: wholeOrNull(price.unitAmount),
    amount_decimal: price.unitAmount === null ? null : formatDecimal(price.unitAmount),
    billing_scheme: price.billingScheme,
    created: price.created,
    currency: price.currency,
    interval: price.recurring?.interval ?? null,
    interval_count: price.recurring?.intervalCount ?? null,
    livemode: false,
    metadata: price.metadata,
    meter: price.recurring?.meter ?? null,
    nickname: price.nickname,
    product: price.product,
    tiers_mode: price.tiersMode,
    transform_usage: null,
    trial_period_days: null,
    usage_type: price.recurring?.usageType ?? 'licensed',
  };
}

/**
 * What `quantity` units cost, in minor units scaled by 10^12 (unrounded). Graduated: each tier prices the
 * units that fall in it, and a tier's flat amount is due once usage reaches it (the first tier's always, so
 * a flat first tier works as a base fee). Volume: the tier the whole quantity falls in prices every unit.
 */
function priceAmount(price: PriceRecord, quantity: bigint): bigint {
  if (price.billingScheme === 'per_unit') return quantity * price.unitAmount!;
  const tiers = price.tiers!;
  if (price.tiersMode === 'volume') {
    const tier = tiers.find((candidate) => candidate.upTo === null || quantity <= BigInt(candidate.upTo))!;
    return (tier.flat ?? 0n) + quantity * (tier.unit ?? 0n);
  }
  let total = 0n;
  let lower = 0n;
  for (const [i, tier] of tiers.entries()) {
    const upper = tier.upTo === null ? null : BigInt(tier.upTo);
    const inTier = (upper === null || quantity < upper ? quantity : upper) - lower;
    if (inTier > 0n || i === 0) total += (tier.flat ?? 0n) + (inTier > 0n ? inTier * (tier.unit ?? 0n) : 0n);
    if (upper === null || quantity <= upper) break;
    lower = upper;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function expandsTiers(params: Params, prefix: string): boolean {
  return params.strings('expand').includes(`${prefix}tiers`);
}

/** Stripe's cursor pagination over a newest-first list: limit (1..100, default 10), starting_after, ending_before. */
function paginate<T>(items: T[], params: Params, url: string, idOf: (item: T) => string, render: (item: T) => unknown): StripeObject {
  const limit = params.int('limit', { min: 1 }) ?? 10;
  if (limit > 100) throw invalid('limit must be at most 100.', 'limit', 'parameter_invalid_integer');
  const after = params.string('starting_after');
  const before = params.string('ending_before');
  const indexOf = (id: string, param: string) => {
    const index = items.findIndex((item) => idOf(item) === id);
    if (index < 0) throw invalid(`No such object: '${id}'`, param, 'resource_missing');
    return index;
  };
  let page: T[];
  let hasMore: boolean;
  if (before !== undefined) {
    const end = indexOf(before, 'ending_before');
    page = items.slice(Math.max(0, end - limit), end);
    hasMore = end - limit > 0;
  } else {
    const start = after === undefined ? 0 : indexOf(after, 'starting_after') + 1;
    page = items.slice(start, start + limit);
    hasMore = start + limit < items.length;
  }
  return list(page.map(render), url, hasMore);
}

function checkAuthorization(value: string | null): ApiError | null {
  let key: string | null = null;
  if (value?.startsWith('Bearer ')) key = value.slice('Bearer '.length).trim();
  else if (value?.startsWith('Basic ')) key = Buffer.from(value.slice('Basic '.length), 'base64').toString('utf8').split(':')[0];
  if (!key) {
    return new ApiError(401, 'invalid_request_error', 'You did not provide an API key. Provide it in the Authorization header, using Bearer auth.');
  }
  // The emulator is a test-mode account: test secret or restricted keys only.
  if (!/^(sk|rk)_test_\w+$/.test(key)) return new ApiError(401, 'invalid_request_error', `Invalid API Key provided: ${key.slice(0, 8)}****`, 'api_key_invalid');
  return null;
}

function errorOutcome(error: unknown): Outcome {
  const apiError = error instanceof ApiError ? error : new ApiError(500, 'api_error', `Emulator failure: ${(error as Error)?.message ?? String(error)}`);
  return { status: apiError.status, body: JSON.stringify(apiError.toJSON(), null, 2), headers: {}, replayed: false };
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new Error('request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A timer that does not keep the process (or Jest) alive if the emulator is stopped mid-delay. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

function postRaw(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: 'POST', agent: false, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
