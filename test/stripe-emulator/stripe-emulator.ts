/**
 * A stateful, in-process stand-in for the slice of the Stripe API that Tollgate depends on: customers,
 * products, prices, Billing Meters (events, adjustments, summaries), subscriptions and their whole life
 * (renewals, invoices, finalization, payment, dunning), invoice previews, Checkout sessions, snapshot
 * webhooks and v2 thin events. The real `stripe` SDK talks to it over HTTP:
 *
 *   new Stripe('sk_test_…', { host: '127.0.0.1', port: emulator.port, protocol: 'http', maxNetworkRetries: 0 })
 *
 * It is written from Stripe's public documentation and the stripe-node 23 types, never from Tollgate's code:
 * it shares no pricing or period code with `src/` (it prices and steps periods the way Stripe documents, on
 * its own, so the two can disagree when one of them is wrong). Every behaviour cites the sentence of Stripe's
 * docs (or the SDK type) it follows. Where Stripe is asynchronous, eventually consistent or strict, so is
 * the emulator; where the sources are silent, it picks the stricter reading and says so.
 *
 * Time: the emulator has its own "now" (`now()`), real time until a test freezes or advances it, like a
 * Stripe test clock (`advanceTo` / `advanceBy` run, in order, everything that falls due: meter event
 * processing, renewals, invoice finalization, payment attempts and retries, expiries, webhook retries).
 *
 * Test-facing API (see the README section of the report / the spec for examples):
 *   clock:        now(), setClock(s|null), advanceTo(s), advanceBy(s), flush()
 *   inspection:   meterEvents(), meterTotal(), appliedIdentifierCounts(), requests, invoices(), events(), thinEvents()
 *   payments:     setPaymentOutcome(customer, 'succeeds' | 'fails' | null), payInvoice(id)
 *                 (or through the SDK: customers.create({ payment_method: 'pm_card_visa' }), invoices.pay(id))
 *   deliveries:   addWebhookEndpoint(url), addEventDestination(url), deliveries
 *   faults:       faults.{error500Rate, resetAfterApplyRate, rateLimitBurst, latencyMs, unauthorizedUntilMs, onlyPaths}, expireKey()
 *
 * Deliberate simplifications: parameters Stripe would reject as unknown are ignored; only the expansions
 * of `tiers`, `latest_invoice` and `lines` are honoured (other `expand` values are accepted); no taxes,
 * discounts, coupons, credit balance or currencies conversion; Smart Retries are a fixed schedule.
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
  /**
   * Until this wall-clock instant (Date.now() ms), every request answers 401 authentication_error, as a key
   * that was rolled or expired does; 0 = off. Wall clock, not the emulator's, since the client retries in real time.
   */
  unauthorizedUntilMs: number;
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
  /** pending: received, not processed yet (Stripe aggregates asynchronously); invalid: refused later, by a thin event. */
  status: 'pending' | 'valid' | 'invalid';
  /** Why it was refused (a `v1.billing.meter.*` error code), when invalid. */
  errorCode: string | null;
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
  /**
   * Seconds (of emulator time) between receiving a meter event and counting it in summaries, previews and
   * invoices, or reporting it invalid. "Stripe processes meter events asynchronously, so aggregated usage in
   * meter event summaries and on upcoming invoices might not immediately reflect recently received meter
   * events." (recording-usage-api). Stripe gives no figure: 60 s by default.
   */
  meterEventProcessingSeconds?: number;
  /**
   * The account's invoice finalization grace period: how long a subscription's draft invoice stays a draft.
   * "The default is set to 1 hour for all invoices." "You can set a delay of up to 72 hours" (configure-grace-period).
   */
  finalizationGraceSeconds?: number;
  /** When set, only these API keys are accepted; any other answers 401 (as an unknown key does). */
  apiKeys?: string[];
  /**
   * Days between payment retries of a failed renewal invoice, then what happens to the subscription. Stripe's
   * Smart Retries choose their own times ("Once Stripe has exhausted all payment retry attempts, the
   * subscription will become `canceled` or `unpaid` (depending on your subscriptions settings)", Subscription
   * type); the emulator uses this fixed schedule. Default: [3, 5, 7] then 'canceled'.
   */
  paymentRetryDays?: number[];
  afterRetriesExhausted?: 'canceled' | 'unpaid' | 'past_due';
}

export const noFaults = (): FaultSettings => ({
  error500Rate: 0,
  resetAfterApplyRate: 0,
  rateLimitBurst: { remaining: 0, shouldRetryHeader: null },
  latencyMs: 0,
  unauthorizedUntilMs: 0,
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
  /** Headers sent with the error (e.g. Stripe-Should-Retry). */
  headers: Record<string, string> = {};
  /**
   * A refusal of the parameters themselves, before any endpoint logic ran: not saved for idempotent replay.
   * "If incoming parameters fail validation, or the request conflicts with another that's executing
   * concurrently, no idempotent result is saved because no API endpoint began execution." (idempotent_requests)
   */
  validation = false;

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
    // Stripe leaves out `code` and `param` when they do not apply.
    return { error: { type: this.type, message: this.message, ...(this.code !== null && { code: this.code }), ...(this.param !== null && { param: this.param }) } };
  }
}

const invalid = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, 'invalid_request_error', message, code, param);
/** A malformed parameter: refused before execution, so never saved under an Idempotency-Key. */
const invalidParam = (message: string, param: string | null = null, code: string | null = null) => {
  const error = invalid(message, param, code);
  error.validation = true;
  return error;
};
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
  if (!match) throw invalidParam(`Invalid parameter name: ${key}`, key);
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
        if (existing instanceof Map) throw invalidParam(`Invalid parameters: ${key} is given both as a value and as an object.`, key);
        node.set(segment, value);
        return;
      }
      if (typeof existing === 'string') throw invalidParam(`Invalid parameters: ${key} is given both as a value and as an object.`, key);
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
      if (options.required) throw invalidParam(`Missing required param: ${this.name(key)}.`, this.name(key), 'parameter_missing');
      return undefined;
    }
    if (typeof value !== 'string') throw invalidParam(`Invalid string: ${this.name(key)}`, this.name(key));
    if (options.oneOf && !options.oneOf.includes(value)) {
      throw invalidParam(`Invalid ${this.name(key)}: must be one of ${options.oneOf.join(', ')}`, this.name(key));
    }
    return value;
  }

  int(key: string, options: { required?: boolean; min?: number } = {}): number | undefined {
    const text = this.string(key, { required: options.required });
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) {
      throw invalidParam(`Invalid integer: ${text}`, this.name(key), 'parameter_invalid_integer');
    }
    if (options.min !== undefined && value < options.min) {
      throw invalidParam(`This value must be greater than or equal to ${options.min}.`, this.name(key), 'parameter_invalid_integer');
    }
    return value;
  }

  bool(key: string): boolean | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    if (text !== 'true' && text !== 'false') throw invalidParam(`Invalid boolean: ${text}`, this.name(key));
    return text === 'true';
  }

  object(key: string, options: { required?: boolean } = {}): Params | undefined {
    const value = this.raw(key);
    if (value === undefined || value === '') {
      if (options.required) throw invalidParam(`Missing required param: ${this.name(key)}.`, this.name(key), 'parameter_missing');
      return undefined;
    }
    if (typeof value === 'string' || Array.isArray(value)) throw invalidParam(`Invalid object: ${this.name(key)}`, this.name(key));
    return new Params(value, this.name(key));
  }

  objects(key: string, options: { required?: boolean } = {}): Params[] {
    const value = this.raw(key);
    if (value === undefined || value === '') {
      if (options.required) throw invalidParam(`Missing required param: ${this.name(key)}.`, this.name(key), 'parameter_missing');
      return [];
    }
    if (!Array.isArray(value)) throw invalidParam(`Invalid array: ${this.name(key)}`, this.name(key));
    return value.map((element, i) => {
      if (typeof element === 'string' || Array.isArray(element)) throw invalidParam(`Invalid object: ${this.name(key)}[${i}]`, `${this.name(key)}[${i}]`);
      return new Params(element, `${this.name(key)}[${i}]`);
    });
  }

  strings(key: string): string[] {
    const value = this.raw(key);
    if (value === undefined || value === '') return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((element, i) => {
      if (typeof element !== 'string') throw invalidParam(`Invalid string: ${this.name(key)}[${i}]`, `${this.name(key)}[${i}]`);
      return element;
    });
  }

  /** `metadata[k]=v` pairs; `metadata=` (empty) clears all, `metadata[k]=` (empty) removes k: null / '' mark those. */
  metadata(key = 'metadata'): Record<string, string> | null | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (value === '') return null;
    if (typeof value === 'string' || Array.isArray(value)) throw invalidParam(`Invalid hash: ${this.name(key)}`, this.name(key));
    const entries = Object.entries(value);
    if (entries.length > 50) throw invalidParam('Metadata can have at most 50 keys.', this.name(key));
    for (const [k, v] of entries) {
      if (typeof v !== 'string') throw invalidParam(`Invalid metadata value for ${k}`, `${this.name(key)}[${k}]`);
      if (k.length > 40) throw invalidParam(`Metadata keys can be at most 40 characters: ${k}`, `${this.name(key)}[${k}]`);
      if (v.length > 500) throw invalidParam(`Metadata values can be at most 500 characters: ${k}`, `${this.name(key)}[${k}]`);
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
    throw invalidParam(`Invalid decimal: ${text} (a non-negative number with at most ${DECIMALS} decimal places)`, param);
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
  /** The default payment method's behaviour when charged; null = the customer has none. */
  paymentMethod: { id: string; outcome: PaymentOutcome } | null;
}

/** What charging a customer's default payment method does. */
export type PaymentOutcome = 'succeeds' | 'fails';

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
  /** The meter it counts on, once processed; null until then (or when no active meter had its event_name). */
  meterId: string | null;
  payload: Record<string, string>;
  /** When Stripe received it (emulator time). */
  created: number;
  /** When a cancellation takes effect (adjustments are processed asynchronously too); null = not cancelled. */
  cancelEffectiveAt: number | null;
}

interface ItemRecord {
  id: string;
  created: number;
  price: string;
  quantity: number | null;
  metadata: Record<string, string>;
  /** Since the 2025 APIs the billing period lives on each item (flexible mode lets items differ in interval). */
  periodStart: number;
  periodEnd: number;
  /** Metered usage is billed from here (the item's creation, or its last price change) to the period's end. */
  usageFrom: number;
}

type SubscriptionStatus = 'incomplete' | 'incomplete_expired' | 'trialing' | 'active' | 'past_due' | 'canceled' | 'unpaid' | 'paused';

interface SubscriptionRecord {
  id: string;
  customer: string;
  created: number;
  startDate: number;
  billingCycleAnchor: number;
  billingMode: 'classic' | 'flexible';
  status: SubscriptionStatus;
  canceledAt: number | null;
  endedAt: number | null;
  cancelAt: number | null;
  cancelAtPeriodEnd: boolean;
  trialStart: number | null;
  trialEnd: number | null;
  /** trial_settings.end_behavior.missing_payment_method */
  trialEndWithoutPaymentMethod: 'create_invoice' | 'pause' | 'cancel';
  metadata: Record<string, string>;
  items: ItemRecord[];
  latestInvoice: string | null;
  /** Lines waiting for the next invoice: usage of removed metered items, prorations. */
  pendingLines: LineRecord[];
}

interface LineRecord {
  id: string;
  /** metered: priced from the meter over its period when the invoice finalizes; fixed: quantity known already. */
  kind: 'metered' | 'fixed';
  price: string;
  subscriptionItem: string | null;
  periodStart: number;
  periodEnd: number;
  quantity: number;
  amount: number;
  proration: boolean;
  description: string;
}

type InvoiceStatus = 'draft' | 'open' | 'paid' | 'void' | 'uncollectible';

interface InvoiceRecord {
  id: string;
  number: string | null;
  customer: string;
  subscription: string | null;
  created: number;
  status: InvoiceStatus;
  billingReason: 'subscription_create' | 'subscription_cycle' | 'subscription_update' | 'subscription_threshold' | 'manual';
  periodStart: number;
  periodEnd: number;
  currency: string;
  lines: LineRecord[];
  autoAdvance: boolean;
  automaticallyFinalizesAt: number | null;
  finalizedAt: number | null;
  paidAt: number | null;
  voidedAt: number | null;
  attemptCount: number;
  nextPaymentAttempt: number | null;
  /** Payment was attempted and failed (last_finalization_error aside). */
  lastPaymentError: string | null;
}

interface WebhookEndpointRecord {
  id: string;
  url: string;
  secret: string;
  enabledEvents: string[];
}

interface EventDestinationRecord {
  id: string;
  url: string;
  secret: string;
}

export interface Delivery {
  /** 'webhook' (snapshot event to a webhook endpoint) or 'thin' (v2 event notification to an event destination). */
  kind: 'webhook' | 'thin';
  url: string;
  eventId: string;
  type: string;
  attempt: number;
  /** HTTP status of the answer; 0 when the connection failed. */
  status: number;
  /** Emulator time of the attempt. */
  at: number;
}

interface Task {
  at: number;
  seq: number;
  label: string;
  run: () => void;
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
  headers: Record<string, string>;
  requestId: string;
  created: number;
}

interface Outcome {
  status: number;
  body: string;
  headers: Record<string, string>;
  replayed: boolean;
  /** The parameters were refused before the endpoint ran (not saved for idempotent replay). */
  validationError?: boolean;
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

/**
 * The first billing boundary after `after`: `anchor` itself while it is ahead (the short first period up to
 * a billing_cycle_anchor), else anchor + k × interval. Counting every boundary from the anchor, never from the
 * previous one, is what keeps a Jan 31 anchor on Feb 28 (29), then Mar 31: "A monthly subscription with a
 * billing cycle anchor date of January 31 bills the last day of the month closest to the anchor date, so
 * February 28 (or February 29 in a leap year), then March 31, April 30, and so on." (subscriptions/billing-cycle)
 */
function boundaryAfter(anchor: number, interval: Interval, intervalCount: number, after: number): number {
  if (anchor > after) return anchor;
  const span = interval === 'day' ? DAY : interval === 'week' ? 7 * DAY : interval === 'month' ? 28 * DAY : 365 * DAY;
  // Start a little below the answer (a month is at least 28 days), then step up.
  let k = Math.max(1, Math.floor((after - anchor) / (span * intervalCount)) - 1);
  while (addIntervals(anchor, interval, k * intervalCount) > after && k > 1) k -= 1;
  while (addIntervals(anchor, interval, k * intervalCount) <= after) k += 1;
  return addIntervals(anchor, interval, k * intervalCount);
}

const list = (data: unknown[], url: string, hasMore = false) => ({ object: 'list', data, has_more: hasMore, url });

// ---------------------------------------------------------------------------------------------------------

export class StripeEmulator {
  /** Mutable: tests set it (or parts of it) at any time; it is read per request. */
  faults: FaultSettings = noFaults();
  readonly requests: LoggedRequest[] = [];
  /** Every delivery attempt of a webhook or thin event, in order. */
  readonly deliveries: Delivery[] = [];
  /** The secret of the webhook endpoint `addWebhookEndpoint(url)` creates (and postWebhook signs with). */
  readonly webhookSecret: string;

  private readonly server: Server;
  private boundPort = 0;
  private clock: number | null = null;
  /** While a due task runs, "now" is its due time (an invoice made at a period's end is dated then). */
  private taskTime: number | null = null;
  private stopped = false;
  private readonly ticker: NodeJS.Timeout;

  private readonly processingDelay: number;
  private readonly finalizationGrace: number;
  private readonly apiKeys: Set<string> | null;
  private readonly expiredKeys = new Set<string>();
  private readonly retryDays: number[];
  private readonly afterRetries: 'canceled' | 'unpaid' | 'past_due';

  private readonly customers = new Map<string, CustomerRecord>();
  private readonly products = new Map<string, ProductRecord>();
  private readonly meters = new Map<string, MeterRecord>();
  private readonly prices = new Map<string, PriceRecord>();
  private readonly events: MeterEventRecord[] = [];
  /** The latest event per identifier, for the 24 h dedupe and for cancellations. */
  private readonly eventsByIdentifier = new Map<string, MeterEventRecord>();
  private readonly appliedIdentifiers = new Map<string, number>();
  private readonly subscriptions = new Map<string, SubscriptionRecord>();
  private readonly invoiceRecords = new Map<string, InvoiceRecord>();
  private invoiceSequence = 0;
  private readonly checkoutSessions = new Map<string, CheckoutRecord>();
  private readonly idempotency = new Map<string, StoredResponse>();
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];

  private readonly tasks: Task[] = [];
  private taskSequence = 0;
  private readonly webhookEndpoints: WebhookEndpointRecord[] = [];
  private readonly eventDestinations: EventDestinationRecord[] = [];
  /** Snapshot (v1) events, oldest first. */
  private readonly eventLog: StripeObject[] = [];
  /** Thin (v2) events by id, with their `data` (what GET /v2/core/events/:id answers). */
  private readonly thinEventLog = new Map<string, StripeObject>();
  /** Deliveries go out one at a time, in the order the events happened. */
  private deliveryChain: Promise<void> = Promise.resolve();

  private constructor(webhookSecret: string, private readonly strictSummaryAlignment: boolean, options: EmulatorOptions) {
    this.webhookSecret = webhookSecret;
    this.processingDelay = options.meterEventProcessingSeconds ?? 60;
    this.finalizationGrace = options.finalizationGraceSeconds ?? 3600;
    if (this.finalizationGrace < 0 || this.finalizationGrace > 72 * 3600) throw new Error('finalizationGraceSeconds: 0..72 h (Stripe allows up to 72 hours)');
    this.apiKeys = options.apiKeys ? new Set(options.apiKeys) : null;
    this.retryDays = options.paymentRetryDays ?? [3, 5, 7];
    this.afterRetries = options.afterRetriesExhausted ?? 'canceled';
    this.server = createServer((req, res) => {
      // A bug in the emulator must fail the request, not the test process (unhandled rejection).
      this.handle(req, res).catch(() => res.destroy());
    });
    // The SDK keeps sockets alive; a server closing them first races the next request into ECONNRESET
    // (which the SDK retries), so keep them longer than any test. stop() closes them all.
    this.server.keepAliveTimeout = 60_000;
    this.defineRoutes();
    // On real time, what falls due (meter event processing, renewals, …) happens without a request to trigger it.
    this.ticker = setInterval(() => {
      if (this.clock === null && !this.stopped) this.runDue();
    }, 200);
    this.ticker.unref();
  }

  static async start(options: EmulatorOptions = {}): Promise<StripeEmulator> {
    const emulator = new StripeEmulator(options.webhookSecret ?? `whsec_${randomToken(32)}`, options.strictSummaryAlignment ?? false, options);
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
    clearInterval(this.ticker);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  // -------------------------------------------------------------------------------------------------------
  // Clock (Stripe's test clocks: "advance the clock … and the subscriptions and invoices on it react")

  /**
   * Overrides "now" (unix seconds); null = real time. A raw jump: what falls due in between happens at the
   * next request, dated at its due time. Prefer advanceTo/advanceBy, which also wait for the deliveries.
   */
  setClock(nowSeconds: number | null): void {
    this.clock = nowSeconds;
  }

  now(): number {
    return this.taskTime ?? this.clock ?? Math.floor(Date.now() / 1000);
  }

  /**
   * Moves the (then frozen) clock forward to `targetSeconds`, running everything that falls due in order —
   * meter event processing, period ends (renewal, invoice.created), finalizations after the grace period,
   * payment attempts and retries, incomplete expiries, webhook retries — and waits for each step's webhook
   * and thin-event deliveries before the next, like a test clock reaching `ready`.
   */
  async advanceTo(targetSeconds: number): Promise<void> {
    if (targetSeconds < this.now()) throw new Error(`advanceTo: ${targetSeconds} is before now (${this.now()}); a test clock only moves forward`);
    this.clock = this.now();
    for (;;) {
      const next = this.nextTask();
      if (!next || next.at > targetSeconds) break;
      this.runTask(next);
      this.clock = Math.max(this.clock, next.at);
      await this.deliveriesSettled();
    }
    this.clock = targetSeconds;
    await this.deliveriesSettled();
  }

  advanceBy(seconds: number): Promise<void> {
    return this.advanceTo(this.now() + seconds);
  }

  /** Runs what is due now and waits until every webhook / thin event delivery so far has been attempted. */
  async flush(): Promise<void> {
    this.runDue();
    await this.deliveriesSettled();
  }

  private schedule(at: number, label: string, run: () => void): void {
    this.tasks.push({ at, seq: ++this.taskSequence, label, run });
  }

  private nextTask(): Task | null {
    let best: Task | null = null;
    for (const task of this.tasks) if (!best || task.at < best.at || (task.at === best.at && task.seq < best.seq)) best = task;
    return best;
  }

  private runTask(task: Task): void {
    this.tasks.splice(this.tasks.indexOf(task), 1);
    const previous = this.taskTime;
    // Never dated before the clock already is (a task overdue after a raw jump happens at its due time, though).
    this.taskTime = task.at;
    try {
      task.run();
    } finally {
      this.taskTime = previous;
    }
  }

  /** Runs every task due by now, earliest first (a task may schedule others that are due too). */
  private runDue(): void {
    if (this.taskTime !== null) return; // not re-entrant
    const now = this.now();
    for (let next = this.nextTask(); next && next.at <= now; next = this.nextTask()) this.runTask(next);
  }

  private async deliveriesSettled(): Promise<void> {
    for (;;) {
      const chain = this.deliveryChain;
      await chain;
      if (chain === this.deliveryChain) return;
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Inspection

  meterEvents(filter: { eventName?: string; customer?: string } = {}): EmulatedMeterEvent[] {
    return this.events
      .filter((event) => (filter.eventName === undefined || event.eventName === filter.eventName) && (filter.customer === undefined || event.customer === filter.customer))
      .map(({ identifier, eventName, customer, value, timestamp, cancelled, status, errorCode }) => ({ identifier, eventName, customer, value, timestamp, cancelled, status, errorCode }));
  }

  /** How many times each identifier was accepted (a replay is not an acceptance): Tollgate must keep it ≤ 1. */
  appliedIdentifierCounts(): Map<string, number> {
    return new Map(this.appliedIdentifiers);
  }

  /**
   * What the meter will eventually hold (its formula over [start, end)) for the customer: every accepted event
   * that is or will be valid, minus cancellations — regardless of the processing lag that summaries show.
   */
  meterTotal(meterId: string, customer: string, startSeconds: number, endSeconds: number): number {
    const meter = this.meters.get(meterId);
    if (!meter) throw new Error(`No such meter: ${meterId}`);
    this.runDue();
    const events = this.events
      .filter((event) => event.cancelEffectiveAt === null && event.timestamp >= startSeconds && event.timestamp < endSeconds)
      .flatMap((event) => {
        if (event.status === 'valid') return event.meterId === meter.id && event.customer === customer ? [event] : [];
        if (event.status === 'invalid') return [];
        // Pending: what processing will make of it, with the account as it is now.
        const resolved = this.resolveMeterEvent(event);
        return resolved.error === null && resolved.meter?.id === meter.id && resolved.customer === customer ? [{ value: resolved.value, timestamp: event.timestamp }] : [];
      });
    return aggregateValues(meter.formula, events);
  }

  /** Invoices as the API renders them (with lines), newest first; filters like GET /v1/invoices. */
  invoices(filter: { customer?: string; subscription?: string; status?: InvoiceStatus } = {}): StripeObject[] {
    this.runDue();
    return [...this.invoiceRecords.values()]
      .filter((invoice) => (filter.customer === undefined || invoice.customer === filter.customer) && (filter.subscription === undefined || invoice.subscription === filter.subscription) && (filter.status === undefined || invoice.status === filter.status))
      .reverse()
      .map((invoice) => this.renderInvoice(invoice));
  }

  /** Snapshot events generated so far (oldest first), whether or not an endpoint received them. */
  eventsOf(type?: string): StripeObject[] {
    return this.eventLog.filter((event) => type === undefined || event.type === type);
  }

  /** Thin events generated so far, full (with `data`), oldest first. */
  thinEvents(type?: string): StripeObject[] {
    return [...this.thinEventLog.values()].filter((event) => type === undefined || event.type === type);
  }

  // -------------------------------------------------------------------------------------------------------
  // Test-side controls (what a customer or the account owner would do outside the API)

  /** Gives the customer a default payment method that succeeds or fails when charged (null: none). */
  setPaymentOutcome(customerId: string, outcome: PaymentOutcome | null): void {
    const customer = this.customers.get(customerId);
    if (!customer) throw new Error(`No such customer: ${customerId}`);
    customer.paymentMethod = outcome === null ? null : { id: newId('pm'), outcome };
  }

  /** The customer pays an open invoice (e.g. confirms the payment of an `incomplete` subscription's first invoice). */
  async payInvoice(invoiceId: string): Promise<StripeObject> {
    const invoice = this.invoiceRecords.get(invoiceId);
    if (!invoice) throw new Error(`No such invoice: ${invoiceId}`);
    if (invoice.status !== 'open') throw new Error(`Invoice ${invoiceId} is ${invoice.status}`);
    this.markPaid(invoice);
    await this.deliveriesSettled();
    return this.renderInvoice(invoice);
  }

  /** A key that stops working (401 "Expired API Key provided"), as a rolled key does once its grace ends. */
  expireKey(apiKey: string): void {
    this.expiredKeys.add(apiKey);
  }

  /** Opens a 401 window: every request answers authentication_error for `ms` wall-clock milliseconds. */
  unauthorizedFor(ms: number): void {
    this.faults.unauthorizedUntilMs = Date.now() + ms;
  }

  // -------------------------------------------------------------------------------------------------------
  // Webhooks and event destinations

  /**
   * Registers a webhook endpoint receiving snapshot events (all types unless `enabledEvents` says otherwise),
   * signed with `secret` (the emulator's webhookSecret by default). Returns the signing secret.
   */
  addWebhookEndpoint(url: string, options: { secret?: string; enabledEvents?: string[] } = {}): string {
    const secret = options.secret ?? this.webhookSecret;
    this.webhookEndpoints.push({ id: newId('we'), url, secret, enabledEvents: options.enabledEvents ?? ['*'] });
    return secret;
  }

  /**
   * Registers an event destination receiving thin events (v2 event notifications), signed like webhooks with
   * its own secret: "Stripe signs each event it sends to your endpoint by including a signature in each
   * event's Stripe-Signature header" (event-destinations). Returns the signing secret.
   */
  addEventDestination(url: string, options: { secret?: string } = {}): string {
    const secret = options.secret ?? `whsec_${randomToken(32)}`;
    this.eventDestinations.push({ id: newId('ed'), url, secret });
    return secret;
  }

  /** A `Stripe-Signature` header: `t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`. Real time by default,
   * since the receiver checks the timestamp against its own clock. */
  signWebhook(payload: string, timestampSeconds: number = Math.floor(Date.now() / 1000), secret: string = this.webhookSecret): string {
    const signature = createHmac('sha256', secret).update(`${timestampSeconds}.${payload}`, 'utf8').digest('hex');
    return `t=${timestampSeconds},v1=${signature}`;
  }

  /** Wraps `event` in a Stripe event envelope, signs it and POSTs it to `url` (a hand-made delivery). */
  async postWebhook(
    url: string,
    /** `created` (Unix seconds) backdates the event, as a late, out-of-order delivery looks. */
    event: { type: string; data: { object: unknown; previous_attributes?: unknown }; created?: number },
  ): Promise<{ status: number; body: string; event: StripeObject }> {
    const envelope = this.envelope(event.type, event.data.object, event.data.previous_attributes, event.created);
    const payload = JSON.stringify(envelope, null, 2);
    const response = await postRaw(url, payload, {
      'Content-Type': 'application/json; charset=utf-8',
      'Stripe-Signature': this.signWebhook(payload),
      'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
    });
    return { ...response, event: envelope };
  }

  private envelope(type: string, object: unknown, previousAttributes?: unknown, created?: number): StripeObject {
    return {
      id: newId('evt'),
      object: 'event',
      api_version: EMULATED_API_VERSION,
      created: created ?? this.now(),
      data: { object, ...(previousAttributes !== undefined && { previous_attributes: previousAttributes }) },
      livemode: false,
      pending_webhooks: this.webhookEndpoints.length,
      request: { id: null, idempotency_key: null },
      type,
    };
  }

  /** A snapshot event: logged, and delivered to every endpoint that enabled its type. */
  private emit(type: string, object: StripeObject, previousAttributes?: StripeObject): void {
    const event = this.envelope(type, object, previousAttributes);
    this.eventLog.push(event);
    const payload = JSON.stringify(event, null, 2);
    for (const endpoint of this.webhookEndpoints) {
      if (!endpoint.enabledEvents.includes('*') && !endpoint.enabledEvents.includes(type)) continue;
      this.deliver({ kind: 'webhook', url: endpoint.url, secret: endpoint.secret, eventId: event.id, type, payload }, 1);
    }
  }

  /**
   * A thin event: "The payload of thin events is unversioned. During processing, you must fetch the versioned
   * event from the API or fetch the resource's current state." (v2 event types). The notification carries
   * id, object 'v2.core.event', type, created, livemode and related_object; `data` only comes with the fetch
   * (stripe-node's `fetchEvent()` = GET /v2/core/events/:id).
   */
  private emitThin(type: string, relatedObject: { id: string; type: string; url: string } | null, data: StripeObject): void {
    const notification: StripeObject = {
      id: `evt_test_${randomToken(40)}`,
      object: 'v2.core.event',
      type,
      created: new Date(this.now() * 1000).toISOString(),
      livemode: false,
      ...(relatedObject && { related_object: relatedObject }),
      reason: null,
    };
    this.thinEventLog.set(notification.id, { ...notification, data });
    const payload = JSON.stringify(notification);
    for (const destination of this.eventDestinations) {
      this.deliver({ kind: 'thin', url: destination.url, secret: destination.secret, eventId: notification.id, type, payload }, 1);
    }
  }

  /**
   * POSTs one event, in order after the ones before it. A failed delivery (no 2xx) is retried:
   * "In test mode, Stripe retries three times over a few hours." (webhooks#retries) — here 1, 2 and 3 hours later.
   */
  private deliver(delivery: { kind: Delivery['kind']; url: string; secret: string; eventId: string; type: string; payload: string }, attempt: number): void {
    const at = this.now();
    this.deliveryChain = this.deliveryChain.then(async () => {
      if (this.stopped) return;
      const status = await postRaw(delivery.url, delivery.payload, {
        'Content-Type': 'application/json; charset=utf-8',
        'Stripe-Signature': this.signWebhook(delivery.payload, Math.floor(Date.now() / 1000), delivery.secret),
        'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      }).then(
        (response) => response.status,
        () => 0,
      );
      this.deliveries.push({ kind: delivery.kind, url: delivery.url, eventId: delivery.eventId, type: delivery.type, attempt, status, at });
      if ((status < 200 || status >= 300) && attempt <= 3) {
        this.schedule(at + attempt * 3600, `retry ${delivery.eventId}`, () => this.deliver(delivery, attempt + 1));
      }
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Checkout completion (what the customer paying on the hosted page would cause)

  async completeCheckout(sessionId: string): Promise<StripeObject> {
    const session = this.checkoutSessions.get(sessionId);
    if (!session) throw new Error(`No session: ${sessionId}`);
    if (session.status !== 'open') throw new Error(`Checkout session ${sessionId} is ${session.status}`);
    const customer = session.customer ? this.customers.get(session.customer)! : this.insertCustomer({ email: session.customerEmail });
    // The customer entered a card on the hosted page: it becomes their default payment method, and it works.
    customer.paymentMethod ??= { id: newId('pm'), outcome: 'succeeds' };
    const subscription = this.startSubscription({
      customer: customer.id,
      items: session.lineItems,
      metadata: session.subscriptionMetadata,
      anchor: null,
      billingMode: 'flexible',
      paymentBehavior: 'allow_incomplete',
      trialEnd: null,
      trialEndWithoutPaymentMethod: 'create_invoice',
    });
    Object.assign(session, { status: 'complete', customer: customer.id, subscription: subscription.id });
    await this.deliveriesSettled();
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

    // Faults that refuse the request come before anything is applied: a 401 window, a 429 burst, then a 500.
    if (faulty && faults.unauthorizedUntilMs > Date.now()) {
      return answer(errorOutcome(new ApiError(401, 'authentication_error', 'Expired API Key provided: sk_test_****. (emulated 401 window)', 'api_key_expired')));
    }
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
    const authError = checkAuthorization(header(req, 'authorization'), this.apiKeys, this.expiredKeys);
    if (authError) return errorOutcome(authError);
    // What fell due since the last request happens before this one is served.
    this.runDue();
    const route = this.routes.find((candidate) => candidate.method === method && candidate.pattern.test(target.pathname));
    if (!route) {
      return errorOutcome(new ApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${target.pathname}).`));
    }
    let params: Params;
    try {
      // v2 endpoints take JSON bodies; the only v2 endpoint here is a GET.
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
      return { status: stored.status, body: stored.body, headers: { ...stored.headers, 'Idempotent-Replayed': 'true', 'Original-Request': stored.requestId }, replayed: true };
    }
    const outcome = run();
    // "Stripe saves the status code and body of the first request made with a given idempotency key after
    // endpoint execution begins. Retries with the same key return the saved response, including 500 errors."
    // (idempotent_requests). Only a refusal of the parameters themselves is not saved.
    if (!outcome.validationError) {
      this.idempotency.set(key, { method, path: target.pathname, params: fingerprint, status: outcome.status, body: outcome.body, headers: outcome.headers, requestId, created: now });
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
    this.route('GET', '/v1/invoices', (context) => this.listInvoices(context));
    this.route('GET', '/v1/invoices/:id', (context) => this.renderInvoice(this.invoice(id(context))));
    this.route('GET', '/v1/invoices/:id/lines', (context) => {
      const invoice = this.invoice(id(context));
      return paginate(invoice.lines, context.params, context.path, (line) => line.id, (line) => this.renderLine(invoice, line));
    });
    this.route('POST', '/v1/invoices/:id/finalize', (context) => this.renderInvoice(this.finalizeInvoice(this.invoice(id(context)), { byRequest: true })));
    this.route('POST', '/v1/invoices/:id/pay', (context) => this.payInvoiceByRequest(this.invoice(id(context))));

    this.route('GET', '/v1/events', ({ params, path }) => {
      const type = params.string('type');
      const found = this.eventLog.filter((event) => type === undefined || event.type === type);
      return paginate([...found].reverse(), params, path, (event) => event.id, (event) => event);
    });
    this.route('GET', '/v1/events/:id', (context) => {
      const event = this.eventLog.find((candidate) => candidate.id === id(context));
      if (!event) throw noSuch('event', id(context));
      return event;
    });
    // "Retrieves the details of an event if it was created in the last 30 days." (v2 Events, stripe-node 23)
    this.route('GET', '/v2/core/events/:id', (context) => {
      const event = this.thinEventLog.get(id(context));
      if (!event) throw new ApiError(404, 'invalid_request_error', `No such event: '${id(context)}'`, 'resource_missing');
      return event;
    });
    this.route('POST', '/v1/webhook_endpoints', ({ params }) => {
      const url = params.string('url', { required: true })!;
      const enabledEvents = params.strings('enabled_events');
      if (enabledEvents.length === 0) throw invalidParam('Missing required param: enabled_events.', 'enabled_events', 'parameter_missing');
      const secret = `whsec_${randomToken(32)}`;
      const endpoint: WebhookEndpointRecord = { id: newId('we'), url, secret, enabledEvents };
      this.webhookEndpoints.push(endpoint);
      // The secret is only in the answer to the creation, as with Stripe.
      return { id: endpoint.id, object: 'webhook_endpoint', api_version: null, created: this.now(), enabled_events: enabledEvents, livemode: false, metadata: {}, secret, status: 'enabled', url };
    });

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
      paymentMethod: null,
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
      paymentMethod: testPaymentMethod(params.string('payment_method') ?? params.object('invoice_settings')?.string('default_payment_method'), 'payment_method'),
    };
    return this.insertCustomer(fields);
  }

  private updateCustomer(customer: CustomerRecord, params: Params): CustomerRecord {
    if (customer.deleted) throw invalid('This customer has been deleted.', null, 'resource_missing');
    const metadata = mergeMetadata(customer.metadata, params.metadata());
    for (const key of ['email', 'name', 'description', 'phone'] as const) {
      if (params.raw(key) !== undefined) customer[key] = params.string(key) ?? null; // '' unsets
    }
    const paymentMethod = params.string('payment_method') ?? params.object('invoice_settings')?.string('default_payment_method');
    if (paymentMethod !== undefined) customer.paymentMethod = testPaymentMethod(paymentMethod, 'invoice_settings[default_payment_method]');
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
      invoice_settings: { custom_fields: null, default_payment_method: customer.paymentMethod?.id ?? null, footer: null, rendering_options: null },
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
      // "The tiers property on Plan is no longer included by default" (changelog 2020-08-27): on a Price too,
      // `tiers` is only in the answer when expanded (expand[]=tiers, or data.tiers on a list).
      ...(withTiers && price.tiers && { tiers: price.tiers.map(renderTier) }),
      tiers_mode: price.tiersMode,
      transform_quantity: null,
      type: price.recurring ? 'recurring' : 'one_time',
      unit_amount: wholeOrNull(price.unitAmount),
      unit_amount_decimal: price.unitAmount === null ? null : formatDecimal(price.unitAmount),
    };
  }

  private listPrices({ params, path }: RequestContext): StripeObject {
    // "active: Only return prices that are active or inactive (e.g., pass false to list all inactive prices)":
    // without it, both are listed (archived prices too).
    const active = params.bool('active');
    // "lookup_keys: Only return the price with these lookup_keys, if any exist. You can specify up to 10
    // lookup_keys." (PriceListParams, stripe-node 23)
    const lookupKeys = params.strings('lookup_keys');
    if (lookupKeys.length > 10) throw invalidParam(`You can specify up to 10 lookup_keys; ${lookupKeys.length} were given.`, 'lookup_keys');
    const product = params.string('product');
    const currency = params.string('currency');
    const type = params.string('type');
    const found = [...this.prices.values()].filter(
      (price) =>
        (active === undefined || price.active === active) &&
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

  /**
   * POST /v1/billing/meter_events. Only the form of the call is checked here (required fields, the timestamp
   * window, the identifier); the meter, the customer and the value are checked when Stripe processes the event,
   * later: "Stripe processes meter events asynchronously" (recording-usage-api), and what fails then is reported
   * as a thin event — "v1.billing.meter.error_report_triggered: Occurs when a Meter has invalid async usage
   * events", "v1.billing.meter.no_meter_found: Occurs when a Meter's id is missing or invalid in async usage
   * events" (v2 event types). The timestamp window stays synchronous (the sources do not say it is deferred:
   * the strict reading refuses at the door).
   */
  private createMeterEvent(params: Params): StripeObject {
    const eventName = params.string('event_name', { required: true })!;
    const payloadParams = params.object('payload', { required: true })!;
    const payload: Record<string, string> = {};
    for (const [key, value] of Object.entries(payloadParams.data)) {
      if (typeof value !== 'string') throw invalidParam(`Invalid payload value: payload[${key}] must be a string.`, `payload[${key}]`);
      payload[key] = value;
    }
    const now = this.now();
    const timestamp = params.int('timestamp') ?? now;
    // "Make sure the timestamp is within the past 35 calendar days and isn't more than 5 minutes in the future." (recording-usage-api)
    if (timestamp < now - MAX_EVENT_AGE) {
      throw invalidParam('The timestamp is too far in the past: meter events must be within the past 35 calendar days.', 'timestamp', 'timestamp_too_far_in_past');
    }
    if (timestamp > now + MAX_EVENT_LEAD) {
      throw invalidParam('The timestamp is in the future: meter events can be at most 5 minutes in the future.', 'timestamp', 'timestamp_in_future');
    }
    const identifier = params.string('identifier') ?? randomToken(32);
    if (identifier.length > 100) throw invalidParam('identifier can be at most 100 characters.', 'identifier');
    // "Stripe enforces uniqueness within a rolling period of at least 24 hours." (MeterEventCreateParams.identifier)
    // Stripe answers a duplicate with a plain invalid_request_error (no code) that must not be retried.
    const previous = this.eventsByIdentifier.get(identifier);
    if (previous && now - previous.created < IDENTIFIER_DEDUPE_WINDOW) {
      const duplicate = invalid(`An event already exists with identifier ${identifier}.`);
      duplicate.headers['Stripe-Should-Retry'] = 'false';
      throw duplicate;
    }

    // The payload keys of the meter that will process it (the defaults when there is none yet).
    const meter = this.activeMeter(eventName);
    // The value as sent, for inspection (0 when it is not a whole number); processing decides whether it counts.
    const sent = Number(payload[meter?.valueKey ?? 'value']);
    const event: MeterEventRecord = {
      identifier,
      eventName,
      customer: payload[meter?.customerKey ?? 'stripe_customer_id'] ?? '',
      value: Number.isSafeInteger(sent) ? sent : 0,
      timestamp,
      cancelled: false,
      status: 'pending',
      errorCode: null,
      meterId: null,
      payload,
      created: now,
      cancelEffectiveAt: null,
    };
    this.events.push(event);
    this.eventsByIdentifier.set(identifier, event);
    this.appliedIdentifiers.set(identifier, (this.appliedIdentifiers.get(identifier) ?? 0) + 1);
    this.schedule(now + this.processingDelay, `process meter event ${identifier}`, () => this.processMeterEvent(event));
    return { object: 'billing.meter_event', created: now, event_name: eventName, identifier, livemode: false, payload, timestamp };
  }

  private activeMeter(eventName: string): MeterRecord | undefined {
    return [...this.meters.values()].find((candidate) => candidate.status === 'active' && candidate.eventName === eventName);
  }

  /** What processing the event would find, with the account as it is now: its meter, value, or the error. */
  private resolveMeterEvent(event: MeterEventRecord): { meter: MeterRecord | null; customer: string; value: number; error: { code: string; message: string } | null } {
    const meter = this.activeMeter(event.eventName) ?? null;
    if (!meter) {
      const archived = [...this.meters.values()].find((candidate) => candidate.eventName === event.eventName) ?? null;
      return archived
        ? { meter: archived, customer: event.customer, value: 0, error: { code: 'archived_meter', message: `The meter for event_name '${event.eventName}' is inactive.` } }
        : { meter: null, customer: event.customer, value: 0, error: { code: 'no_meter', message: `No active meter was found with event_name '${event.eventName}'.` } };
    }
    const customerId = event.payload[meter.customerKey] ?? '';
    if (customerId === '') {
      return { meter, customer: '', value: 0, error: { code: 'meter_event_no_customer_defined', message: `The payload has no ${meter.customerKey}.` } };
    }
    const customer = this.customers.get(customerId);
    if (!customer || customer.deleted) {
      return { meter, customer: customerId, value: 0, error: { code: 'meter_event_customer_not_found', message: `No such customer: '${customerId}'` } };
    }
    let value = 1;
    const text = event.payload[meter.valueKey];
    if (meter.formula !== 'count' || text !== undefined) {
      // "The numerical usage value in the payload only accepts whole number values." (recording-usage-api)
      value = Number(text);
      if (text === undefined || !/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) {
        return { meter, customer: customerId, value: 0, error: { code: 'meter_event_invalid_value', message: `Invalid value for payload[${meter.valueKey}]: '${text ?? ''}' is not a whole number.` } };
      }
    }
    return { meter, customer: customerId, value, error: null };
  }

  private processMeterEvent(event: MeterEventRecord): void {
    if (event.status !== 'pending') return;
    const resolved = this.resolveMeterEvent(event);
    if (resolved.error) {
      event.status = 'invalid';
      event.errorCode = resolved.error.code;
      this.reportMeterError(resolved.meter, event, resolved.error);
      return;
    }
    Object.assign(event, { status: 'valid', meterId: resolved.meter!.id, customer: resolved.customer, value: resolved.value });
  }

  private readonly errorBatches = new Map<string, { meter: MeterRecord | null; start: number; errors: Array<{ code: string; message: string; identifier: string }> }>();

  /** Errors found at the same moment are reported together, one thin event per meter (or per missing meter). */
  private reportMeterError(meter: MeterRecord | null, event: MeterEventRecord, error: { code: string; message: string }): void {
    const key = meter && error.code !== 'no_meter' ? meter.id : '';
    let batch = this.errorBatches.get(key);
    if (!batch) {
      batch = { meter: key ? meter : null, start: event.created, errors: [] };
      this.errorBatches.set(key, batch);
      this.schedule(this.now(), 'meter error report', () => {
        this.errorBatches.delete(key);
        this.sendMeterErrorReport(batch!);
      });
    }
    batch.start = Math.min(batch.start, event.created);
    batch.errors.push({ ...error, identifier: event.identifier });
  }

  private sendMeterErrorReport(batch: { meter: MeterRecord | null; start: number; errors: Array<{ code: string; message: string; identifier: string }> }): void {
    const codes = [...new Set(batch.errors.map((error) => error.code))];
    const data = {
      developer_message_summary: `${batch.errors.length} invalid meter event(s)${batch.meter ? ` for meter ${batch.meter.id}` : ''}: ${codes.join(', ')}`,
      reason: {
        error_count: batch.errors.length,
        error_types: codes.map((code) => {
          const ofType = batch.errors.filter((error) => error.code === code);
          return {
            code,
            error_count: ofType.length,
            sample_errors: ofType.slice(0, 5).map((error) => ({ error_message: error.message, request: { identifier: error.identifier } })),
          };
        }),
      },
      validation_start: new Date(batch.start * 1000).toISOString(),
      validation_end: new Date(this.now() * 1000).toISOString(),
    };
    if (batch.meter) {
      this.emitThin('v1.billing.meter.error_report_triggered', { id: batch.meter.id, type: 'billing.meter', url: `/v1/billing/meters/${batch.meter.id}` }, data);
    } else {
      this.emitThin('v1.billing.meter.no_meter_found', null, data);
    }
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
    // Stripe answers `pending` and processes the cancellation asynchronously, like the events themselves.
    event.cancelEffectiveAt ??= this.now() + this.processingDelay;
    return { object: 'billing.meter_event_adjustment', cancel: { identifier }, event_name: eventName, livemode: false, status: 'pending', type: 'cancel' };
  }

  /** The meter's aggregate over [start, end) as Stripe shows it now: processed, valid events, minus processed cancellations. */
  private aggregate(meter: MeterRecord, customer: string, start: number, end: number): number {
    const now = this.now();
    const events = this.events.filter(
      (event) =>
        event.status === 'valid' &&
        event.meterId === meter.id &&
        event.customer === customer &&
        !(event.cancelEffectiveAt !== null && event.cancelEffectiveAt <= now) &&
        event.timestamp >= start &&
        event.timestamp < end,
    );
    return aggregateValues(meter.formula, events);
  }

  private eventSummaries(meter: MeterRecord, { params, path }: RequestContext): StripeObject {
    const customer = params.string('customer', { required: true })!;
    const start = params.int('start_time', { required: true })!;
    const end = params.int('end_time', { required: true })!;
    if (start >= end) throw invalidParam('start_time must be before end_time.', 'start_time');
    const grouping = params.string('value_grouping_window', { oneOf: ['day', 'hour'] });
    const step = grouping === 'day' ? DAY : grouping === 'hour' ? 3600 : null;
    // Windows are half-open [start, end). Stripe requires minute-aligned bounds (hour/day-aligned with a
    // grouping window); the emulator accepts any bound unless started with strictSummaryAlignment.
    if (this.strictSummaryAlignment) {
      const unit = step ?? 60;
      const what = grouping === 'day' ? 'UTC day' : grouping === 'hour' ? 'hour' : 'minute';
      if (start % unit !== 0) throw invalidParam(`start_time must be aligned with ${what} boundaries.`, 'start_time');
      if (end % unit !== 0) throw invalidParam(`end_time must be aligned with ${what} boundaries.`, 'end_time');
    }
    const windows: Array<[number, number]> = [];
    if (step === null) windows.push([start, end]);
    else {
      if ((end - start) / step > 10_000) throw invalidParam('Too many windows: narrow start_time..end_time or use a larger value_grouping_window.', 'value_grouping_window');
      for (let from = start; from < end; from += step) windows.push([from, Math.min(from + step, end)]);
    }
    // "Meters events are aggregated asynchronously so the meter event summaries provide an eventually
    // consistent view of the reported usage." (Meter Event Summary object)
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
  //
  // Statuses, from the Subscription type (stripe-node 23): "Possible values are `incomplete`,
  // `incomplete_expired`, `trialing`, `active`, `past_due`, `canceled`, `unpaid`, or `paused`."

  private invoice(id: string): InvoiceRecord {
    const invoice = this.invoiceRecords.get(id);
    if (!invoice) throw noSuch('invoice', id);
    return invoice;
  }

  /** The subscription's current period as a whole: its first item's (all items share it unless intervals differ). */
  private periodOf(subscription: SubscriptionRecord): { start: number; end: number } {
    const [item] = subscription.items;
    return { start: item.periodStart, end: item.periodEnd };
  }

  private recurring(priceId: string): NonNullable<PriceRecord['recurring']> {
    return this.prices.get(priceId)!.recurring!;
  }

  /**
   * Validates the items of a subscription: existing recurring prices, one currency, no price twice, and — in
   * classic mode only — one interval: "Mixed-interval subscriptions are supported in API version 2025-07-30.basil
   * or later and require the Subscription to be configured in flexible billing mode." (changelog 2025-07-30)
   */
  private checkItems(items: Array<{ price: string; quantity: number | null }>, param: string, billingMode: SubscriptionRecord['billingMode']): void {
    if (items.length === 0) throw invalid('A subscription needs at least one item.', param, 'parameter_missing');
    // "items: A list of up to 20 subscription items, each with an attached price." (SubscriptionCreateParams)
    if (items.length > 20) throw invalid('A subscription can have at most 20 items.', param);
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
      if (billingMode === 'classic' && (price.recurring!.interval !== first.recurring!.interval || price.recurring!.intervalCount !== first.recurring!.intervalCount)) {
        throw invalid('All prices of a classic billing mode subscription must have the same recurring interval and interval_count (mixed intervals need billing_mode[type]=flexible).', param);
      }
    }
    if (new Set(prices.map((price) => price.id)).size !== prices.length) {
      throw invalid('Cannot add multiple subscription items with the same price.', param);
    }
  }

  /** An item starting now: its period runs to the next billing boundary of its own interval. */
  private newItem(subscription: Pick<SubscriptionRecord, 'billingCycleAnchor'>, price: string, quantity: number | null, now: number): ItemRecord {
    const { interval, intervalCount, usageType } = this.recurring(price);
    return {
      id: newId('si'),
      created: now,
      price,
      quantity: usageType === 'metered' ? null : (quantity ?? 1),
      metadata: {},
      periodStart: now,
      periodEnd: boundaryAfter(subscription.billingCycleAnchor, interval, intervalCount, now),
      usageFrom: now,
    };
  }

  /** Whole-period amount of a licensed item, in minor units (rounded once per line). */
  private licensedAmount(item: ItemRecord): number {
    return roundToMinorUnits(priceAmount(this.prices.get(item.price)!, BigInt(item.quantity ?? 1)));
  }

  /**
   * The start of the full billing period ending at `end`: the boundary before it, counted from the billing cycle
   * anchor like every boundary (a period ending Nov 30 of a Jan 31 anchor began Oct 31, not Oct 30). "Stripe
   * calculates proration down to the second based on the starting timestamp of the billing period and the
   * timestamp of the proration's triggering event" (billing/scripts/prorations).
   */
  private fullPeriodStart(subscription: Pick<SubscriptionRecord, 'billingCycleAnchor'>, item: ItemRecord, end: number): number {
    const { interval, intervalCount } = this.recurring(item.price);
    const anchor = subscription.billingCycleAnchor;
    // A first period ending at a future anchor is a part of the interval before the anchor.
    if (end <= anchor) return addIntervals(anchor, interval, -intervalCount);
    let steps = 0;
    while (addIntervals(anchor, interval, (steps + 1) * intervalCount) < end) steps += 1;
    return addIntervals(anchor, interval, steps * intervalCount);
  }

  private fixedLine(item: ItemRecord, start: number, end: number, amount: number, description: string, proration = false): LineRecord {
    return { id: newId('il'), kind: 'fixed', price: item.price, subscriptionItem: item.id, periodStart: start, periodEnd: end, quantity: item.quantity ?? 0, amount, proration, description };
  }

  /** A metered line: priced from the meter's usage over [start, end) when its invoice finalizes. */
  private meteredLine(subscription: SubscriptionRecord, item: ItemRecord, start: number, end: number): LineRecord {
    const line: LineRecord = { id: newId('il'), kind: 'metered', price: item.price, subscriptionItem: item.id, periodStart: start, periodEnd: end, quantity: 0, amount: 0, proration: false, description: '' };
    this.priceMeteredLine(subscription.customer, line);
    return line;
  }

  /**
   * "If the overall cycle usage is negative, Stripe reports the invoice line item usage quantity as 0."
   * (recording-usage-api). Uses the meter as Stripe sees it now (processed events only).
   */
  private priceMeteredLine(customer: string, line: LineRecord): void {
    const price = this.prices.get(line.price)!;
    const meter = this.meters.get(price.recurring!.meter!)!;
    line.quantity = Math.max(0, this.aggregate(meter, customer, line.periodStart, line.periodEnd));
    line.amount = roundToMinorUnits(priceAmount(price, BigInt(line.quantity)));
    line.description = `${line.quantity} × ${this.products.get(price.product)?.name ?? price.product} (usage)`;
  }

  private paymentBehaviorParam(params: Params): 'allow_incomplete' | 'default_incomplete' | 'error_if_incomplete' | 'pending_if_incomplete' {
    // "Use allow_incomplete to create Subscriptions with status=incomplete if the first invoice can't be paid.
    // … This is the default behavior." (SubscriptionCreateParams.payment_behavior)
    return (params.string('payment_behavior', { oneOf: ['allow_incomplete', 'default_incomplete', 'error_if_incomplete', 'pending_if_incomplete'] }) ?? 'allow_incomplete') as never;
  }

  private billingModeParam(params: Params): SubscriptionRecord['billingMode'] {
    // "Subscriptions you create through the API now default to flexible billing mode. To use classic, set the
    // billing_mode.type parameter to classic." (changelog 2025-09-30.clover; the emulated version is later)
    return (params.object('billing_mode')?.string('type', { required: true, oneOf: ['classic', 'flexible'] }) ?? 'flexible') as SubscriptionRecord['billingMode'];
  }

  private createSubscription(params: Params): StripeObject {
    const customer = this.liveCustomer(params.string('customer', { required: true })!, 'customer');
    const items = params.objects('items', { required: true }).map((item) => ({
      price: item.string('price', { required: true })!,
      quantity: item.int('quantity', { min: 0 }) ?? null,
    }));
    const paymentBehavior = this.paymentBehaviorParam(params);
    if (paymentBehavior === 'pending_if_incomplete') {
      // Pending updates are an update feature; the strict reading refuses it on creation.
      throw invalidParam('payment_behavior=pending_if_incomplete is only supported when updating a subscription.', 'payment_behavior');
    }
    const prorationBehavior = params.string('proration_behavior', { oneOf: ['always_invoice', 'create_prorations', 'none'] }) ?? 'create_prorations';
    const billingMode = this.billingModeParam(params);
    const anchor = params.int('billing_cycle_anchor') ?? null;
    const now = this.now();
    if (anchor !== null && anchor <= now) throw invalid('billing_cycle_anchor cannot be in the past.', 'billing_cycle_anchor');
    let trialEnd: number | null = null;
    const trialEndParam = params.string('trial_end');
    const trialDays = params.int('trial_period_days', { min: 1 });
    if (trialEndParam !== undefined) trialEnd = trialEndParam === 'now' ? null : params.int('trial_end')!;
    else if (trialDays !== undefined) trialEnd = now + trialDays * DAY;
    if (trialEnd !== null && trialEnd <= now) throw invalid('trial_end must be in the future.', 'trial_end');
    const missing = params.object('trial_settings')?.object('end_behavior')?.string('missing_payment_method', { oneOf: ['cancel', 'create_invoice', 'pause'] }) ?? 'create_invoice';
    const subscription = this.startSubscription({
      customer: customer.id,
      items,
      metadata: mergeMetadata({}, params.metadata()),
      anchor,
      billingMode,
      paymentBehavior,
      prorationBehavior,
      trialEnd,
      trialEndWithoutPaymentMethod: missing as SubscriptionRecord['trialEndWithoutPaymentMethod'],
    });
    return this.renderSubscription(subscription, params.strings('expand'));
  }

  /**
   * Creates a subscription and its first invoice. "When you create a subscription for a customer, Stripe:
   * Creates an invoice. Finalizes the invoice immediately when collection_method is set to charge_automatically"
   * (subscriptions/invoices); then the payment behaviour decides the status.
   */
  private startSubscription(input: {
    customer: string;
    items: Array<{ price: string; quantity: number | null }>;
    metadata: Record<string, string>;
    anchor: number | null;
    billingMode: SubscriptionRecord['billingMode'];
    paymentBehavior: 'allow_incomplete' | 'default_incomplete' | 'error_if_incomplete' | 'pending_if_incomplete';
    prorationBehavior?: string;
    trialEnd: number | null;
    trialEndWithoutPaymentMethod: SubscriptionRecord['trialEndWithoutPaymentMethod'];
  }): SubscriptionRecord {
    this.checkItems(input.items, 'items', input.billingMode);
    const now = this.now();
    const trialing = input.trialEnd !== null;
    // "The default value is either the subscription creation date or the trial end date (if you're using a trial
    // period)." (subscriptions/billing-cycle)
    const anchor = trialing ? input.trialEnd! : (input.anchor ?? now);
    if (input.anchor !== null && !trialing) {
      const { interval, intervalCount } = this.recurring(input.items[0].price);
      if (input.anchor > addIntervals(now, interval, intervalCount)) {
        throw invalid('billing_cycle_anchor cannot be later than the next natural billing date.', 'billing_cycle_anchor');
      }
    }
    const subscription: SubscriptionRecord = {
      id: newId('sub'),
      customer: input.customer,
      created: now,
      startDate: now,
      billingCycleAnchor: anchor,
      billingMode: input.billingMode,
      status: trialing ? 'trialing' : 'active',
      canceledAt: null,
      endedAt: null,
      cancelAt: null,
      cancelAtPeriodEnd: false,
      trialStart: trialing ? now : null,
      trialEnd: input.trialEnd,
      trialEndWithoutPaymentMethod: input.trialEndWithoutPaymentMethod,
      metadata: input.metadata,
      items: [],
      latestInvoice: null,
      pendingLines: [],
    };
    subscription.items = input.items.map((item) => this.newItem(subscription, item.price, item.quantity, now));

    // The first invoice: licensed items in advance for the first period (prorated up to a billing_cycle_anchor
    // unless proration_behavior=none, free during a trial); metered items bill in arrears, so nothing yet —
    // classic mode still shows a 0 line: "Flexible billing mode doesn't create zero-amount line items when you add
    // usage-based items to a subscription." (billing-mode/compare)
    const lines: LineRecord[] = [];
    for (const item of subscription.items) {
      const metered = this.recurring(item.price).usageType === 'metered';
      if (metered) {
        if (input.billingMode === 'classic') lines.push(this.fixedLine(item, item.periodStart, item.periodEnd, 0, '0 × usage'));
        continue;
      }
      const full = this.licensedAmount(item);
      let amount = full;
      let proration = false;
      if (trialing) amount = 0;
      else if (input.anchor !== null) {
        proration = true;
        amount = input.prorationBehavior === 'none' ? 0 : prorate(full, item.periodEnd - now, item.periodEnd - this.fullPeriodStart(subscription, item, item.periodEnd));
      }
      lines.push(this.fixedLine(item, item.periodStart, item.periodEnd, amount, trialing ? `Trial period for ${this.describe(item)}` : this.describe(item), proration));
    }
    const total = lines.reduce((sum, line) => sum + line.amount, 0);
    const customer = this.customers.get(input.customer)!;
    const paymentWorks = customer.paymentMethod?.outcome === 'succeeds';
    // "Use error_if_incomplete if you want Stripe to return an HTTP 402 status code if a subscription's first
    // invoice can't be paid." (payment_behavior) — nothing is created then.
    if (input.paymentBehavior === 'error_if_incomplete' && total > 0 && !paymentWorks) {
      throw new ApiError(402, 'card_error', customer.paymentMethod ? 'Your card was declined.' : 'This customer has no attached payment source or default payment method.', customer.paymentMethod ? 'card_declined' : 'resource_missing');
    }

    this.subscriptions.set(subscription.id, subscription);
    const invoice = this.createInvoice(subscription, 'subscription_create', lines, now, subscription.items[0].periodEnd);
    if (total > 0 && input.paymentBehavior === 'default_incomplete') {
      // "Use default_incomplete to create Subscriptions with status=incomplete when the first invoice requires
      // payment, otherwise start as active." — no payment is attempted.
      subscription.status = 'incomplete';
    } else if (total > 0 && !paymentWorks) {
      // allow_incomplete: the attempt fails; "For collection_method=charge_automatically a subscription moves into
      // incomplete if the initial payment attempt fails." (Subscription.status)
      subscription.status = 'incomplete';
    }
    this.emit('customer.subscription.created', this.renderSubscription(subscription, []));
    this.emit('invoice.created', this.renderInvoice(invoice));
    this.finalizeInvoice(invoice, { byRequest: false, collect: input.paymentBehavior !== 'default_incomplete' || total === 0 });
    if (subscription.status === 'incomplete') {
      // "If the first invoice is not paid within 23 hours, the subscription transitions to incomplete_expired."
      this.schedule(now + 23 * 3600, `expire ${subscription.id}`, () => this.expireIncomplete(subscription));
    }
    this.scheduleCycle(subscription);
    return subscription;
  }

  private describe(item: ItemRecord): string {
    const price = this.prices.get(item.price)!;
    return `${item.quantity ?? 1} × ${this.products.get(price.product)?.name ?? price.product}`;
  }

  private expireIncomplete(subscription: SubscriptionRecord): void {
    if (subscription.status !== 'incomplete') return;
    // "This is a terminal status, the open invoice will be voided and no further invoices will be generated."
    subscription.status = 'incomplete_expired';
    subscription.endedAt = this.now();
    const invoice = subscription.latestInvoice ? this.invoiceRecords.get(subscription.latestInvoice) : undefined;
    if (invoice && invoice.status === 'open') {
      Object.assign(invoice, { status: 'void', voidedAt: this.now(), nextPaymentAttempt: null });
      this.emit('invoice.voided', this.renderInvoice(invoice));
    }
    this.emit('customer.subscription.updated', this.renderSubscription(subscription, []), { status: 'incomplete' });
  }

  /** The next moment the subscription changes by itself: the earliest period end (or trial end / cancel_at). */
  private nextCycleAt(subscription: SubscriptionRecord): number {
    return Math.min(...subscription.items.map((item) => item.periodEnd), subscription.cancelAt ?? Infinity);
  }

  private scheduleCycle(subscription: SubscriptionRecord): void {
    const at = this.nextCycleAt(subscription);
    this.schedule(at, `cycle ${subscription.id}`, () => {
      // Superseded when the items or cancel_at changed since (a newer task was scheduled then).
      if (this.nextCycleAt(subscription) === at) this.cycle(subscription, at);
    });
  }

  /**
   * A period end. "Stripe generates an invoice for every subscription billing period" (subscriptions/invoices):
   * the subscription moves to its next period (customer.subscription.updated) and a draft invoice is created
   * (invoice.created) with the ended period's usage (metered items, in arrears) and the new period's licensed
   * items (in advance); it finalizes after the grace period.
   */
  private cycle(subscription: SubscriptionRecord, at: number): void {
    if (['canceled', 'incomplete_expired', 'paused'].includes(subscription.status)) return;
    const previous = { status: subscription.status, current_period_start: this.periodOf(subscription).start, current_period_end: this.periodOf(subscription).end };
    const ending = subscription.items.filter((item) => item.periodEnd <= at);

    if (subscription.cancelAt !== null && subscription.cancelAt <= at) {
      // Ends now: a last invoice for the usage of the period that ends, nothing in advance.
      const lines = ending.filter((item) => this.recurring(item.price).usageType === 'metered').map((item) => this.meteredLine(subscription, item, item.usageFrom, at));
      Object.assign(subscription, { status: 'canceled', canceledAt: subscription.canceledAt ?? at, endedAt: at });
      this.emit('customer.subscription.deleted', this.renderSubscription(subscription, []), previous);
      this.invoiceLines(subscription, [...lines, ...subscription.pendingLines.splice(0)], 'subscription_cycle', previous.current_period_start, at);
      return;
    }

    if (subscription.status === 'trialing' && subscription.trialEnd !== null && subscription.trialEnd <= at) {
      const customer = this.customers.get(subscription.customer)!;
      if (!customer.paymentMethod && subscription.trialEndWithoutPaymentMethod !== 'create_invoice') {
        // "A subscription can enter a paused status in several ways, including when a trial ends without a payment method"
        const status = subscription.trialEndWithoutPaymentMethod === 'pause' ? 'paused' : 'canceled';
        Object.assign(subscription, { status, ...(status === 'canceled' && { canceledAt: at, endedAt: at }) });
        this.emit(status === 'canceled' ? 'customer.subscription.deleted' : 'customer.subscription.paused', this.renderSubscription(subscription, []), previous);
        return;
      }
      // "The subscription transitions automatically to active when the first payment is made." — the invoice decides.
      subscription.status = 'active';
    }

    const lines: LineRecord[] = [];
    for (const item of ending) {
      const { interval, intervalCount, usageType } = this.recurring(item.price);
      const next = boundaryAfter(subscription.billingCycleAnchor, interval, intervalCount, at);
      if (usageType === 'metered') lines.push(this.meteredLine(subscription, item, item.usageFrom, item.periodEnd));
      Object.assign(item, { periodStart: at, periodEnd: next, usageFrom: at });
      if (usageType === 'licensed') lines.push(this.fixedLine(item, at, next, this.licensedAmount(item), this.describe(item)));
    }
    this.emit('customer.subscription.updated', this.renderSubscription(subscription, []), previous);
    this.invoiceLines(subscription, [...lines, ...subscription.pendingLines.splice(0)], 'subscription_cycle', previous.current_period_start, at);
    this.scheduleCycle(subscription);
  }

  /** Creates a draft invoice from lines (if any), sends invoice.created and schedules its finalization. */
  private invoiceLines(subscription: SubscriptionRecord, lines: LineRecord[], reason: InvoiceRecord['billingReason'], periodStart: number, periodEnd: number): InvoiceRecord | null {
    if (lines.length === 0) return null;
    const invoice = this.createInvoice(subscription, reason, lines, periodStart, periodEnd);
    // "Stripe waits until one hour after the last webhook was successfully sent … If you … have no webhooks
    // configured, Stripe waits one hour after creation to finalize the invoice." (Invoice object) — the account's
    // finalization grace period, 1 h by default.
    invoice.automaticallyFinalizesAt = this.now() + this.finalizationGrace;
    this.emit('invoice.created', this.renderInvoice(invoice));
    this.schedule(invoice.automaticallyFinalizesAt, `finalize ${invoice.id}`, () => this.finalizeInvoice(invoice, { byRequest: false }));
    return invoice;
  }

  private createInvoice(subscription: SubscriptionRecord, reason: InvoiceRecord['billingReason'], lines: LineRecord[], periodStart: number, periodEnd: number): InvoiceRecord {
    const invoice: InvoiceRecord = {
      id: newId('in'),
      number: null,
      customer: subscription.customer,
      subscription: subscription.id,
      created: this.now(),
      status: 'draft',
      billingReason: reason,
      periodStart,
      periodEnd,
      currency: this.prices.get(subscription.items[0].price)!.currency,
      lines,
      autoAdvance: true,
      automaticallyFinalizesAt: null,
      finalizedAt: null,
      paidAt: null,
      voidedAt: null,
      attemptCount: 0,
      nextPaymentAttempt: null,
      lastPaymentError: null,
    };
    this.invoiceRecords.set(invoice.id, invoice);
    subscription.latestInvoice = invoice.id;
    return invoice;
  }

  /**
   * Draft → open. "During the configured finalization grace period, you can continue to report usage for the
   * previous billing period. When the invoice finalizes, Stripe updates it to reflect the latest quantity for its
   * billing period." (configure-grace-period) — so metered lines are priced again now; usage arriving after this
   * lands on no invoice.
   */
  private finalizeInvoice(invoice: InvoiceRecord, options: { byRequest: boolean; collect?: boolean }): InvoiceRecord {
    if (invoice.status !== 'draft') {
      if (options.byRequest) throw invalid(`This invoice is already finalized (status: ${invoice.status}).`, null, 'invoice_not_editable');
      return invoice;
    }
    for (const line of invoice.lines) if (line.kind === 'metered') this.priceMeteredLine(invoice.customer, line);
    Object.assign(invoice, {
      status: 'open',
      finalizedAt: this.now(),
      automaticallyFinalizesAt: null,
      number: `${invoice.customer.slice(4, 12).toUpperCase()}-${String(++this.invoiceSequence).padStart(4, '0')}`,
    });
    const subscription = invoice.subscription ? this.subscriptions.get(invoice.subscription) : undefined;
    if (subscription?.status === 'unpaid') {
      // "when a subscription has a status of unpaid, no subsequent invoices will be attempted (invoices will be
      // created, but then immediately automatically closed)" (Subscription.status)
      invoice.autoAdvance = false;
    }
    this.emit('invoice.finalized', this.renderInvoice(invoice));
    if (options.collect ?? invoice.autoAdvance) this.collect(invoice);
    return invoice;
  }

  private amountDue(invoice: InvoiceRecord): number {
    return Math.max(0, invoice.lines.reduce((sum, line) => sum + line.amount, 0));
  }

  /** Charges the customer's default payment method for an open invoice (automatic collection). */
  private collect(invoice: InvoiceRecord): void {
    if (invoice.status !== 'open') return;
    if (this.amountDue(invoice) === 0) {
      this.markPaid(invoice);
      return;
    }
    const customer = this.customers.get(invoice.customer)!;
    invoice.attemptCount += 1;
    if (customer.paymentMethod?.outcome === 'succeeds') {
      this.markPaid(invoice);
      return;
    }
    invoice.lastPaymentError = customer.paymentMethod ? 'Your card was declined.' : 'The customer has no default payment method.';
    const retryIn = this.retryDays[invoice.attemptCount - 1];
    invoice.nextPaymentAttempt = invoice.billingReason !== 'subscription_create' && retryIn !== undefined ? this.now() + retryIn * DAY : null;
    this.emit('invoice.payment_failed', this.renderInvoice(invoice));
    const subscription = invoice.subscription ? this.subscriptions.get(invoice.subscription)! : null;
    if (!subscription || invoice.billingReason === 'subscription_create') return; // incomplete is decided by the creator
    if (invoice.nextPaymentAttempt !== null) {
      this.schedule(invoice.nextPaymentAttempt, `retry ${invoice.id}`, () => this.collect(invoice));
      // "it becomes past_due when payment is required but cannot be paid (due to failed payment …)"
      if (subscription.status === 'active') this.setStatus(subscription, 'past_due');
      return;
    }
    // "Once Stripe has exhausted all payment retry attempts, the subscription will become canceled or unpaid
    // (depending on your subscriptions settings)."
    if (this.afterRetries === 'canceled') {
      const previous = { status: subscription.status };
      Object.assign(subscription, { status: 'canceled', canceledAt: this.now(), endedAt: this.now(), cancelAt: null });
      this.emit('customer.subscription.deleted', this.renderSubscription(subscription, []), previous);
    } else this.setStatus(subscription, this.afterRetries);
  }

  private setStatus(subscription: SubscriptionRecord, status: SubscriptionStatus): void {
    if (subscription.status === status) return;
    const previous = { status: subscription.status };
    subscription.status = status;
    this.emit('customer.subscription.updated', this.renderSubscription(subscription, []), previous);
  }

  private markPaid(invoice: InvoiceRecord): void {
    Object.assign(invoice, { status: 'paid', paidAt: this.now(), nextPaymentAttempt: null, lastPaymentError: null });
    this.emit('invoice.paid', this.renderInvoice(invoice));
    this.emit('invoice.payment_succeeded', this.renderInvoice(invoice));
    const subscription = invoice.subscription ? this.subscriptions.get(invoice.subscription) : undefined;
    if (!subscription || !['incomplete', 'past_due', 'unpaid'].includes(subscription.status)) return;
    const stillOpen = [...this.invoiceRecords.values()].some((other) => other.subscription === subscription.id && other.status === 'open');
    // "Once the first invoice is paid, the subscription moves into an active status."
    if (!stillOpen) this.setStatus(subscription, 'active');
  }

  /** POST /v1/invoices/:id/pay: a draft is finalized first; a failed charge answers 402. */
  private payInvoiceByRequest(invoice: InvoiceRecord): StripeObject {
    if (invoice.status === 'draft') this.finalizeInvoice(invoice, { byRequest: true, collect: false });
    if (invoice.status !== 'open') throw invalid(`Invoice is already ${invoice.status}.`, null, 'invoice_unexpected_state');
    const customer = this.customers.get(invoice.customer)!;
    if (this.amountDue(invoice) > 0 && !customer.paymentMethod) {
      throw invalid('This customer has no attached payment source or default payment method.', null, 'invoice_no_customer_line_items');
    }
    this.collect(invoice);
    if ((invoice.status as InvoiceStatus) !== 'paid') throw new ApiError(402, 'card_error', 'Your card was declined.', 'card_declined');
    return this.renderInvoice(invoice);
  }

  private updateSubscription(subscription: SubscriptionRecord, params: Params): StripeObject {
    const changesItems = params.has('items') || params.has('cancel_at_period_end') || params.has('cancel_at') || params.has('trial_end');
    if (['canceled', 'incomplete_expired'].includes(subscription.status) && changesItems) {
      throw invalid('A canceled subscription can only update its cancellation_details and metadata.');
    }
    if (subscription.status === 'incomplete' && changesItems) {
      // "A subscription in this status can only have metadata and default_source updated." (Subscription.status)
      throw invalid('A subscription in incomplete status can only have metadata and default_source updated.');
    }
    const prorationBehavior = params.string('proration_behavior', { oneOf: ['always_invoice', 'create_prorations', 'none'] }) ?? 'create_prorations';
    this.paymentBehaviorParam(params);
    // Work on copies: nothing changes unless the whole update is valid. `given` is a quantity passed in
    // this request (refused on metered prices); `quantity` the one the item had.
    type Draft = { item: ItemRecord | null; price: string; quantity: number | null; given: number | null };
    let drafts: Draft[] = subscription.items.map((item) => ({ item, price: item.price, quantity: item.quantity, given: null }));
    for (const change of params.objects('items')) {
      const itemId = change.string('id');
      const price = change.string('price');
      const quantity = change.int('quantity', { min: 0 }) ?? null;
      if (itemId === undefined) {
        if (price === undefined) throw invalidParam('Missing required param: price.', change.name('price'), 'parameter_missing');
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
      subscription.billingMode,
    );
    const metadata = mergeMetadata(subscription.metadata, params.metadata());
    const cancelAtPeriodEnd = params.bool('cancel_at_period_end');

    // Everything validated: apply.
    const now = this.now();
    const previous: StripeObject = {};
    if (params.has('items')) {
      previous.items = { object: 'list', data: this.renderSubscription(subscription, []).items.data };
      const lines: LineRecord[] = [];
      const kept = new Set(drafts.filter((draft) => draft.item).map((draft) => draft.item!.id));
      // What leaves: the items removed, and the old price of an item whose price changes.
      const leaving = subscription.items.filter((item) => !kept.has(item.id) || drafts.find((draft) => draft.item === item)!.price !== item.price);
      for (const item of leaving) lines.push(...this.closeItem(subscription, item, now, prorationBehavior));
      subscription.items = drafts.map((draft) => {
        if (!draft.item) {
          const item = this.newItem(subscription, draft.price, draft.quantity, now);
          // A new item lines up with the subscription's current period when it has the same interval.
          const { interval, intervalCount } = this.recurring(item.price);
          const peer = subscription.items.find((other) => this.recurring(other.price).interval === interval && this.recurring(other.price).intervalCount === intervalCount);
          if (peer) item.periodStart = peer.periodStart;
          lines.push(...this.openItem(subscription, item, now, prorationBehavior));
          return item;
        }
        const metered = this.recurring(draft.price).usageType === 'metered';
        // Changing an item's price keeps the item (and its id), as Stripe does.
        const changed = draft.price !== draft.item.price;
        const item: ItemRecord = { ...draft.item, price: draft.price, quantity: metered ? null : (draft.quantity ?? 1), ...(changed && { usageFrom: now }) };
        if (changed) lines.push(...this.openItem(subscription, item, now, prorationBehavior));
        return item;
      });
      if (prorationBehavior === 'always_invoice') {
        this.invoiceLines(subscription, [...subscription.pendingLines.splice(0), ...lines], 'subscription_update', now, now);
      } else subscription.pendingLines.push(...lines);
    }
    if (params.raw('metadata') !== undefined) previous.metadata = subscription.metadata;
    subscription.metadata = metadata;
    if (cancelAtPeriodEnd !== undefined) {
      previous.cancel_at_period_end = subscription.cancelAtPeriodEnd;
      subscription.cancelAtPeriodEnd = cancelAtPeriodEnd;
      subscription.cancelAt = cancelAtPeriodEnd ? this.periodOf(subscription).end : null;
    }
    this.scheduleCycle(subscription);
    this.emit('customer.subscription.updated', this.renderSubscription(subscription, []), previous);
    return this.renderSubscription(subscription, params.strings('expand'));
  }

  /**
   * Lines for an item (or an item's old price) leaving mid-period. Metered: "With billing_mode=flexible
   * subscriptions, we create an invoice item that bills for previously reported metered usage when you remove a
   * metered price from a subscription." (usage-based/manage-billing-setup) — priced from the usage Stripe has
   * processed by now; with proration_behavior=none, or in classic mode (the docs are silent: the strict reading),
   * that usage is not billed. Licensed: a credit for the unused time (prorations).
   */
  private closeItem(subscription: SubscriptionRecord, item: ItemRecord, now: number, prorationBehavior: string): LineRecord[] {
    const { usageType } = this.recurring(item.price);
    if (usageType === 'metered') {
      if (subscription.billingMode !== 'flexible' || prorationBehavior === 'none') return [];
      const line = this.meteredLine(subscription, item, item.usageFrom, now);
      line.kind = 'fixed'; // an invoice item: its quantity is what was reported when it was made
      return line.quantity === 0 ? [] : [line];
    }
    if (prorationBehavior === 'none' || subscription.status === 'trialing') return [];
    const credit = -prorate(this.licensedAmount(item), item.periodEnd - now, item.periodEnd - this.fullPeriodStart(subscription, item, item.periodEnd));
    return credit === 0 ? [] : [this.fixedLine(item, now, item.periodEnd, credit, `Unused time on ${this.describe(item)}`, true)];
  }

  /** A licensed item (or new price) arriving mid-period: the remaining time, prorated. */
  private openItem(subscription: SubscriptionRecord, item: ItemRecord, now: number, prorationBehavior: string): LineRecord[] {
    if (this.recurring(item.price).usageType === 'metered' || prorationBehavior === 'none') return [];
    const debit = prorate(this.licensedAmount(item), item.periodEnd - now, item.periodEnd - this.fullPeriodStart(subscription, item, item.periodEnd));
    return debit === 0 ? [] : [this.fixedLine(item, now, item.periodEnd, debit, `Remaining time on ${this.describe(item)}`, true)];
  }

  /**
   * DELETE /v1/subscriptions/:id. "invoice_now: Will generate a final invoice that invoices for any un-invoiced
   * metered usage and new/pending proration invoice items. Defaults to false." (SubscriptionCancelParams) —
   * without it, the period's usage so far is not billed.
   */
  private cancelSubscription(subscription: SubscriptionRecord, params: Params): StripeObject {
    if (['canceled', 'incomplete_expired'].includes(subscription.status)) throw invalid(`The subscription ${subscription.id} is already canceled.`);
    const invoiceNow = params.bool('invoice_now') ?? false;
    const prorateUnused = params.bool('prorate') ?? false;
    const now = this.now();
    const previous = { status: subscription.status };
    const lines: LineRecord[] = [];
    for (const item of subscription.items) {
      if (this.recurring(item.price).usageType === 'metered') {
        if (invoiceNow) lines.push(this.meteredLine(subscription, item, item.usageFrom, now));
      } else if (prorateUnused) lines.push(...this.closeItem(subscription, item, now, 'create_prorations'));
    }
    Object.assign(subscription, { status: 'canceled', canceledAt: now, endedAt: now, cancelAt: null, cancelAtPeriodEnd: false });
    if (invoiceNow) this.invoiceLines(subscription, [...subscription.pendingLines.splice(0), ...lines], 'subscription_cycle', this.periodOf(subscription).start, now);
    this.emit('customer.subscription.deleted', this.renderSubscription(subscription, []), previous);
    return this.renderSubscription(subscription, params.strings('expand'));
  }

  private listSubscriptions({ params, path }: RequestContext): StripeObject {
    const customer = params.string('customer');
    const price = params.string('price');
    // "If no value is supplied, all subscriptions that have not been canceled are returned." "Pass ended to find
    // subscriptions that are canceled and subscriptions that are expired due to incomplete payment." (SubscriptionListParams)
    const status = params.string('status', { oneOf: ['active', 'canceled', 'all', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'] });
    const found = [...this.subscriptions.values()].filter((subscription) => {
      const ended = subscription.status === 'canceled' || subscription.status === 'incomplete_expired';
      const statusMatches =
        status === 'all' || (status === undefined ? subscription.status !== 'canceled' : status === 'ended' ? ended : subscription.status === status);
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
        current_period_end: item.periodEnd,
        current_period_start: item.periodStart,
        discounts: [],
        metadata: item.metadata,
        plan: renderPlan(price),
        price: this.renderPrice(price, withTiers),
        ...(item.quantity !== null && { quantity: item.quantity }),
        subscription: subscription.id,
        tax_rates: [],
      };
    });
    const latest = subscription.latestInvoice ? this.invoiceRecords.get(subscription.latestInvoice)! : null;
    return {
      id: subscription.id,
      object: 'subscription',
      application: null,
      billing_cycle_anchor: subscription.billingCycleAnchor,
      billing_cycle_anchor_config: null,
      billing_mode: { type: subscription.billingMode, flexible: subscription.billingMode === 'flexible' ? { proration_discounts: 'included' } : null, updated_at: subscription.created },
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
      latest_invoice: latest && (expand.includes('latest_invoice') ? this.renderInvoice(latest) : latest.id),
      livemode: false,
      metadata: subscription.metadata,
      pending_update: null,
      schedule: null,
      start_date: subscription.startDate,
      status: subscription.status,
      test_clock: null,
      trial_end: subscription.trialEnd,
      trial_settings: { end_behavior: { missing_payment_method: subscription.trialEndWithoutPaymentMethod } },
      trial_start: subscription.trialStart,
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // Invoices

  private listInvoices({ params, path }: RequestContext): StripeObject {
    const customer = params.string('customer');
    const subscription = params.string('subscription');
    const status = params.string('status', { oneOf: ['draft', 'open', 'paid', 'uncollectible', 'void'] });
    const found = [...this.invoiceRecords.values()].filter(
      (invoice) => (customer === undefined || invoice.customer === customer) && (subscription === undefined || invoice.subscription === subscription) && (status === undefined || invoice.status === status),
    );
    return paginate(found.reverse(), params, path, (invoice) => invoice.id, (invoice) => this.renderInvoice(invoice));
  }

  private renderLine(invoice: Pick<InvoiceRecord, 'id' | 'currency' | 'subscription'>, line: LineRecord): StripeObject {
    const price = this.prices.get(line.price)!;
    return {
      id: line.id,
      object: 'line_item',
      amount: line.amount,
      currency: invoice.currency,
      description: line.description,
      discount_amounts: [],
      discountable: true,
      discounts: [],
      invoice: invoice.id.startsWith('upcoming_') ? null : invoice.id,
      livemode: false,
      metadata: {},
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: {
          invoice_item: null,
          proration: line.proration,
          proration_details: { credited_items: null },
          subscription: invoice.subscription,
          subscription_item: line.subscriptionItem,
        },
      },
      period: { start: line.periodStart, end: line.periodEnd },
      pretax_credit_amounts: [],
      // Not part of the 2026 line item (it moved to `pricing.price_details`): expanded for convenience.
      price: this.renderPrice(price, true),
      pricing: {
        type: 'price_details',
        price_details: { price: price.id, product: price.product },
        unit_amount_decimal: price.unitAmount === null ? null : formatDecimal(price.unitAmount),
      },
      quantity: line.quantity,
      quantity_decimal: String(line.quantity),
      subtotal: line.amount,
      taxes: [],
    };
  }

  private renderInvoice(invoice: InvoiceRecord): StripeObject {
    const lines = invoice.lines.map((line) => this.renderLine(invoice, line));
    const subtotal = invoice.lines.reduce((sum, line) => sum + line.amount, 0);
    const due = Math.max(0, subtotal);
    const paid = invoice.status === 'paid' ? due : 0;
    const customer = this.customers.get(invoice.customer)!;
    const subscription = invoice.subscription ? this.subscriptions.get(invoice.subscription) : undefined;
    return {
      id: invoice.id,
      object: 'invoice',
      account_country: 'US',
      amount_due: due,
      amount_overpaid: 0,
      amount_paid: paid,
      amount_remaining: due - paid,
      attempt_count: invoice.attemptCount,
      attempted: invoice.attemptCount > 0 || invoice.status === 'paid',
      auto_advance: invoice.autoAdvance && invoice.status !== 'paid' && invoice.status !== 'void',
      automatically_finalizes_at: invoice.automaticallyFinalizesAt,
      billing_reason: invoice.billingReason,
      collection_method: 'charge_automatically',
      created: invoice.created,
      currency: invoice.currency,
      customer: invoice.customer,
      customer_email: customer.email,
      customer_name: customer.name,
      description: null,
      discounts: [],
      due_date: null,
      effective_at: invoice.finalizedAt,
      // "The URL for the hosted invoice page, which allows customers to view and pay an invoice. If the invoice has
      // not been finalized yet, this will be null." (Invoice.hosted_invoice_url)
      hosted_invoice_url: invoice.status === 'draft' || invoice.id.startsWith('upcoming_') ? null : `${this.url}/invoice/${invoice.id}`,
      last_finalization_error: null,
      lines: { ...list(lines, `/v1/invoices/${invoice.id}/lines`), total_count: lines.length },
      livemode: false,
      metadata: {},
      next_payment_attempt: invoice.nextPaymentAttempt,
      number: invoice.number,
      parent: subscription ? { type: 'subscription_details', quote_details: null, subscription_details: { metadata: subscription.metadata, subscription: subscription.id } } : null,
      period_end: invoice.periodEnd,
      period_start: invoice.periodStart,
      status: invoice.status,
      status_transitions: { finalized_at: invoice.finalizedAt, marked_uncollectible_at: null, paid_at: invoice.paidAt, voided_at: invoice.voidedAt },
      // Moved under `parent.subscription_details` by the 2025 APIs; kept at the top for convenience.
      subscription: invoice.subscription,
      subtotal,
      subtotal_excluding_tax: subtotal,
      total: subtotal,
      total_discount_amounts: [],
      total_excluding_tax: subtotal,
      total_taxes: [],
    };
  }

  /**
   * The invoice a subscription will get at its next period end: the usage of the current period so far
   * (processed events only — "aggregated usage in meter event summaries and on upcoming invoices might not
   * immediately reflect recently received meter events"), the next period's licensed items unless it ends
   * then, and pending invoice items.
   */
  private previewInvoice(params: Params): StripeObject {
    const customerId = params.string('customer');
    const subscriptionId = params.string('subscription');
    if (!customerId && !subscriptionId) throw invalidParam('Missing required param: customer (or subscription).', 'customer', 'parameter_missing');
    if (customerId) this.customer(customerId, 'customer');
    const invoicing = (candidate: SubscriptionRecord) => !['canceled', 'incomplete_expired', 'paused'].includes(candidate.status);
    let subscription: SubscriptionRecord | undefined;
    if (subscriptionId) {
      subscription = this.subscriptions.get(subscriptionId);
      if (!subscription) throw noSuch('subscription', subscriptionId, 'subscription');
      if (customerId && subscription.customer !== customerId) throw invalid(`The subscription ${subscriptionId} does not belong to ${customerId}.`, 'subscription');
    } else {
      const open = [...this.subscriptions.values()].filter((candidate) => candidate.customer === customerId && invoicing(candidate));
      subscription = open.sort((a, b) => this.nextCycleAt(a) - this.nextCycleAt(b))[0];
    }
    if (!subscription || !invoicing(subscription)) {
      throw invalid(`No upcoming invoices for customer: ${customerId ?? subscription?.customer}`, null, 'invoice_upcoming_none');
    }
    const current = subscription;
    const at = this.nextCycleAt(current);
    const endsThen = current.cancelAt !== null && current.cancelAt <= at;
    const lines: LineRecord[] = [...current.pendingLines.map((line) => ({ ...line }))];
    for (const item of current.items.filter((candidate) => candidate.periodEnd <= at || endsThen)) {
      const { interval, intervalCount, usageType } = this.recurring(item.price);
      if (usageType === 'metered') lines.push(this.meteredLine(current, item, item.usageFrom, Math.min(item.periodEnd, at)));
      else if (!endsThen) {
        const next = boundaryAfter(current.billingCycleAnchor, interval, intervalCount, at);
        lines.push(this.fixedLine(item, at, next, this.licensedAmount(item), this.describe(item)));
      }
    }
    const preview: InvoiceRecord = {
      id: `upcoming_in_${randomToken()}`,
      number: null,
      customer: current.customer,
      subscription: current.id,
      created: this.now(),
      status: 'draft',
      billingReason: 'subscription_cycle',
      periodStart: this.periodOf(current).start,
      periodEnd: at,
      currency: this.prices.get(current.items[0].price)!.currency,
      lines,
      autoAdvance: true,
      automaticallyFinalizesAt: null,
      finalizedAt: null,
      paidAt: null,
      voidedAt: null,
      attemptCount: 0,
      nextPaymentAttempt: at,
      lastPaymentError: null,
    };
    return { ...this.renderInvoice(preview), billing_reason: 'upcoming' };
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
    if (mode === 'subscription') this.checkItems(lineItems, 'line_items', 'flexible');
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
  if (whole !== undefined && decimal !== undefined) throw invalidParam(`Only one of ${key} and ${key}_decimal can be set.`, params.name(key));
  if (whole !== undefined) return BigInt(whole) * SCALE;
  return decimal === undefined ? null : parseDecimal(decimal, params.name(`${key}_decimal`));
}

function tiersParam(list: Params[]): TierRecord[] {
  if (list.length === 0) throw invalidParam('Missing required param: tiers.', 'tiers', 'parameter_missing');
  let previous = 0;
  return list.map((tier, i) => {
    const last = i === list.length - 1;
    const upToText = tier.string('up_to', { required: true })!;
    let upTo: number | null = null;
    if (upToText === 'inf') {
      if (!last) throw invalidParam('Only the last tier can have up_to=inf.', tier.name('up_to'));
    } else {
      upTo = tier.int('up_to', { min: 1 })!;
      if (last) throw invalidParam('The last tier must have up_to=inf.', tier.name('up_to'));
      if (upTo <= previous) throw invalidParam('Tiers must be in ascending order of up_to.', tier.name('up_to'));
      previous = upTo;
    }
    const unit = amountParam(tier, 'unit_amount');
    const flat = amountParam(tier, 'flat_amount');
    // "flat_amount_decimal: Same as flat_amount, but accepts a decimal value representing an integer in the minor
    // units of the currency." (PriceCreateParams.Tier) — a fraction of a cent is not an integer: refused.
    if (flat !== null && flat % SCALE !== 0n) {
      throw invalidParam('flat_amount_decimal must represent an integer in the minor units of the currency.', tier.name('flat_amount_decimal'));
    }
    if (unit === null && flat === null) throw invalidParam('Each tier needs unit_amount(_decimal) or flat_amount(_decimal).', tier.name('unit_amount'));
    return { upTo, unit, flat };
  });
}

/**
 * Stripe's test payment methods, attached as the customer's default: `pm_card_visa` charges succeed;
 * `pm_card_chargeCustomerFail`: "Attaching this card to a Customer object succeeds, but attempts to charge the
 * customer fail." (testing#declined-payments). Other ids are refused, as an unknown PaymentMethod is.
 */
function testPaymentMethod(id: string | undefined, param: string): CustomerRecord['paymentMethod'] {
  if (id === undefined) return null;
  if (id === 'pm_card_visa' || id === 'pm_card_mastercard') return { id: newId('pm'), outcome: 'succeeds' };
  if (id === 'pm_card_chargeCustomerFail') return { id: newId('pm'), outcome: 'fails' };
  throw invalid(`No such PaymentMethod: '${id}'`, param, 'resource_missing');
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
 * What `quantity` units cost, in minor units scaled by 10^12 (unrounded; the line is rounded once). From
 * subscriptions/pricing-models/tiered-pricing:
 *  - volume: "the subscription item bills at the tier corresponding to the amount of usage at the end of the
 *    period. The entire quantity (or usage) is multiplied by the unit cost of the tier." (plus that tier's flat
 *    amount, "The flat billing amount for an entire tier, regardless of the number of units in the tier.");
 *  - graduated: "Graduated pricing charges for the usage in each tier instead of applying a single price for
 *    overall usage. The quantity is multiplied by the amount for each tier and the totals for each tier are
 *    summed together." A tier's flat amount is due once usage reaches it; the first tier's always (the
 *    documented "flat fee and overage" model bills its flat first tier even without usage).
 * `up_to` is inclusive: "Up to and including to this quantity will be contained in the tier." (Price.Tier)
 */
/** `amount × part / whole` in minor units, rounded once: the prorated share of a period. */
function prorate(amount: number, part: number, whole: number): number {
  if (whole <= 0 || part <= 0) return 0;
  return roundToMinorUnits((BigInt(amount) * SCALE * BigInt(Math.min(part, whole))) / BigInt(whole));
}

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

/** A meter formula over events: `sum`, `count`, or `last` (the latest timestamp; among equals, the latest received). */
function aggregateValues(formula: Formula, events: Array<{ value: number; timestamp: number }>): number {
  if (formula === 'count') return events.length;
  if (formula === 'last') {
    const last = events.reduce<{ value: number; timestamp: number } | null>((best, event) => (best === null || event.timestamp >= best.timestamp ? event : best), null);
    return last?.value ?? 0;
  }
  return events.reduce((sum, event) => sum + event.value, 0);
}

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

/**
 * 401 authentication_error for a missing, malformed, unknown or expired key. Stripe's error types: "authentication_error:
 * Failure to properly authenticate yourself in the request." (stripe-node's RawErrorType lists it; the SDK raises
 * StripeAuthenticationError on any 401).
 */
function checkAuthorization(value: string | null, accepted: Set<string> | null, expired: Set<string>): ApiError | null {
  let key: string | null = null;
  if (value?.startsWith('Bearer ')) key = value.slice('Bearer '.length).trim();
  else if (value?.startsWith('Basic ')) key = Buffer.from(value.slice('Basic '.length), 'base64').toString('utf8').split(':')[0];
  if (!key) {
    return new ApiError(401, 'authentication_error', 'You did not provide an API key. Provide it in the Authorization header, using Bearer auth.');
  }
  const shown = `${key.slice(0, 8)}****${key.slice(-4)}`;
  if (expired.has(key)) return new ApiError(401, 'authentication_error', `Expired API Key provided: ${shown}`, 'api_key_expired');
  // The emulator is a test-mode account: test secret or restricted keys only (and only the configured ones, if any).
  if (!/^(sk|rk)_test_\w+$/.test(key) || (accepted && !accepted.has(key))) {
    return new ApiError(401, 'authentication_error', `Invalid API Key provided: ${shown}`, 'api_key_invalid');
  }
  return null;
}

function errorOutcome(error: unknown): Outcome {
  const apiError = error instanceof ApiError ? error : new ApiError(500, 'api_error', `Emulator failure: ${(error as Error)?.message ?? String(error)}`);
  return { status: apiError.status, body: JSON.stringify(apiError.toJSON(), null, 2), headers: { ...apiError.headers }, replayed: false, validationError: apiError.validation };
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

/** POSTs a delivery; a receiver that does not answer within 10 s counts as failed (the delivery queue moves on). */
function postRaw(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(target, { method: 'POST', agent: false, timeout: 10_000, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('delivery timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
