import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { isDecimalString, normalizeDecimal, toMinorUnits } from '../common/index.js';
import { ConfigError, ConfigErrors } from './config.errors.js';

/** A value that comes from a per-customer override stored in the database. */
export const CUSTOM = 'custom' as const;
export type Custom = typeof CUSTOM;

export type QuotaPolicy = 'block' | 'throttle' | 'overage';
export type Aggregation = 'sum' | 'count';

export interface RatePolicy {
  limit: number;
  windowSeconds: number;
}

export interface TierPrice {
  /** Exact decimal string, e.g. "49.00". */
  amount: string;
  amountMinor: number;
  currency: string;
  interval: 'month' | 'year';
}

export interface OverageBand {
  /** Upper bound of overage units in this band; null = unbounded. */
  upTo: number | null;
  unitPrice: string;
  flatFee: string;
}

export interface OveragePricing {
  mode: 'per_unit' | 'graduated' | 'volume';
  currency: string;
  unit: string;
  /** Per-unit price as an exact decimal string in major units ("0.002" USD). */
  unitPrice: string | null;
  bands: OverageBand[];
}

export interface MeterDefinition {
  name: string;
  aggregation: Aggregation;
  unit: string;
}

export interface TierMeter {
  included: number | Custom;
  overage: OveragePricing | null;
}

export interface TierDefinition {
  name: string;
  /** Position in the catalog: a higher rank includes everything a lower one does. */
  rank: number;
  price: TierPrice | Custom;
  includedCalls: number | Custom;
  quotaPeriod: 'month';
  rateLimits: RatePolicy[] | Custom;
  endpoints: string[];
  endpointCosts: Record<string, number>;
  support: string | null;
  sla: number | null;
  overage: OveragePricing | null;
  onQuotaExceeded: QuotaPolicy;
  alertThresholds: number[];
  /** Quota and pricing per meter; `api_calls` mirrors included_calls / overage. */
  meters: Record<string, TierMeter>;
}

export interface TierCatalog {
  tiers: TierDefinition[];
  meters: MeterDefinition[];
  upgradeUrl: string;
}

export const DEFAULT_METER = 'api_calls';
const DEFAULT_ALERT_THRESHOLDS = [80, 100, 120];
const DEFAULT_UPGRADE_URL = '/portal#upgrade';

const TIER_FIELDS = new Set([
  'price',
  'included_calls',
  'rate_limit',
  'endpoints',
  'support',
  'sla',
  'overage',
  'on_quota_exceeded',
  'alert_thresholds',
  'meters',
  'description',
]);
const TOP_FIELDS = new Set(['tiers', 'meters', 'upgrade_url']);

const WINDOW_SECONDS: Record<string, number> = {
  s: 1,
  sec: 1,
  second: 1,
  m: 60,
  min: 60,
  minute: 60,
  h: 3600,
  hr: 3600,
  hour: 3600,
  d: 86400,
  day: 86400,
};

const NAME_PATTERN = /^[a-z][a-z0-9_-]{0,39}$/;

/** Collects every problem in a file instead of stopping at the first one. */
class Problems {
  readonly errors: ConfigError[] = [];
  constructor(private readonly source: string) {}
  add(field: string, problem: string): void {
    this.errors.push(new ConfigError(this.source, field, problem));
  }
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseCount(raw: string): number | null {
  const digits = raw.replace(/_/g, '');
  if (!/^\d+$/.test(digits)) return null;
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : null;
}

export function parseRatePolicy(value: unknown): RatePolicy | null {
  if (typeof value !== 'string') return null;
  const match = /^(\d[\d_]*)\s*\/\s*(\d+)?\s*([a-z]+?)s?$/i.exec(value.trim());
  if (!match) return null;
  const limit = parseCount(match[1]);
  const multiplier = match[2] ? Number(match[2]) : 1;
  const unit = WINDOW_SECONDS[match[3].toLowerCase()];
  if (limit === null || limit < 1 || !unit || multiplier < 1) return null;
  return { limit, windowSeconds: unit * multiplier };
}

function parseMonthlyCount(value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value !== 'string') return null;
  const match = /^(\d[\d_]*)\s*(?:\/\s*(?:month|mo))?$/i.exec(value.trim());
  return match ? parseCount(match[1]) : null;
}

function parsePrice(value: unknown): TierPrice | null {
  if (value === 0 || value === '0') return { amount: '0.00', amountMinor: 0, currency: 'usd', interval: 'month' };
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return null;
  const match = /^\$?\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(month|mo|year|yr))?$/i.exec(text.trim());
  if (!match) return null;
  const amount = normalizeDecimal(match[1], 2);
  const amountMinor = toMinorUnits(amount);
  if (amountMinor === null) return null;
  const interval = match[2] && /^y/i.test(match[2]) ? 'year' : 'month';
  return { amount, amountMinor, currency: 'usd', interval };
}

/** "$0.002/call", "0.002/call", "0.002 usd/call" */
function parseUnitPrice(value: unknown): { unitPrice: string; currency: string; unit: string } | null {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return null;
  const match = /^(\$)?\s*(\d+(?:\.\d+)?)\s*([a-z]{3})?\s*(?:\/\s*([a-z_]+))?$/i.exec(text.trim());
  if (!match) return null;
  const currency = (match[3] ?? 'usd').toLowerCase();
  if (match[1] && currency !== 'usd') return null;
  return { unitPrice: normalizeDecimal(match[2]), currency, unit: (match[4] ?? 'unit').toLowerCase() };
}

/** Stripe's `unit_amount_decimal` has at most 12 decimal places in minor units: 14 in dollars. */
const MAX_UNIT_PRICE_DECIMALS = 14;
const fitsStripeUnitAmount = (unitPrice: string) => (unitPrice.split('.')[1]?.length ?? 0) <= MAX_UNIT_PRICE_DECIMALS;

function parseOverage(value: unknown, field: string, problems: Problems): OveragePricing | null {
  if (value === undefined || value === null) return null;
  const simple = parseUnitPrice(value);
  if (simple && !fitsStripeUnitAmount(simple.unitPrice)) {
    problems.add(field, `at most ${MAX_UNIT_PRICE_DECIMALS} decimal places (Stripe's unit_amount_decimal takes 12 places of a cent), got ${describe(value)}`);
    return null;
  }
  if (simple) return { mode: 'per_unit', ...simple, bands: [] };
  if (!isRecord(value)) {
    problems.add(field, `expected a unit price like "$0.002/call" or { mode, bands }, got ${describe(value)}`);
    return null;
  }
  const mode = value.mode ?? 'graduated';
  if (mode !== 'graduated' && mode !== 'volume') {
    problems.add(`${field}.mode`, `expected "graduated" or "volume", got ${describe(mode)}`);
    return null;
  }
  if (!Array.isArray(value.bands) || value.bands.length === 0) {
    problems.add(`${field}.bands`, 'expected a non-empty list of { up_to, unit_price }');
    return null;
  }
  const bands: OverageBand[] = [];
  let currency = 'usd';
  let unit = typeof value.unit === 'string' ? value.unit : 'call';
  let previous = 0;
  value.bands.forEach((band: unknown, index: number) => {
    const bandField = `${field}.bands[${index}]`;
    if (!isRecord(band)) return problems.add(bandField, 'expected { up_to, unit_price }');
    const last = index === (value.bands as unknown[]).length - 1;
    let upTo: number | null = null;
    if (band.up_to === 'inf' || band.up_to === undefined) {
      if (!last) return problems.add(`${bandField}.up_to`, 'only the last band may be unbounded');
    } else {
      upTo = parseMonthlyCount(band.up_to);
      if (upTo === null || upTo <= previous) {
        return problems.add(`${bandField}.up_to`, `expected a whole number above ${previous}, got ${describe(band.up_to)}`);
      }
      previous = upTo;
    }
    const price = parseUnitPrice(band.unit_price);
    if (!price) return problems.add(`${bandField}.unit_price`, `expected a price like "$0.002", got ${describe(band.unit_price)}`);
    currency = price.currency;
    if (price.unit !== 'unit') unit = price.unit;
    const flat = band.flat_fee === undefined ? '0' : String(band.flat_fee).replace(/^\$/, '');
    if (!isDecimalString(flat)) return problems.add(`${bandField}.flat_fee`, `expected an amount, got ${describe(band.flat_fee)}`);
    // Stripe's tier flat_amount (and flat_amount_decimal: "a decimal value representing an integer in the minor
    // units of the currency", Price.tiers) is whole cents: a sub-cent fee cannot be billed as written.
    if (toMinorUnits(flat) === null) {
      return problems.add(`${bandField}.flat_fee`, `a flat fee must be a whole number of cents (Stripe bills flat amounts in whole minor units), got ${describe(band.flat_fee)}`);
    }
    if (!fitsStripeUnitAmount(price.unitPrice)) {
      return problems.add(`${bandField}.unit_price`, `at most ${MAX_UNIT_PRICE_DECIMALS} decimal places (Stripe's unit_amount_decimal takes 12 places of a cent), got ${describe(band.unit_price)}`);
    }
    bands.push({ upTo, unitPrice: price.unitPrice, flatFee: normalizeDecimal(flat) });
  });
  if (bands.length && bands[bands.length - 1].upTo !== null) {
    problems.add(`${field}.bands`, 'the last band must be unbounded (up_to: inf)');
  }
  return { mode, currency, unit, unitPrice: null, bands };
}

function parseEndpoints(value: unknown, field: string, problems: Problems): { patterns: string[]; costs: Record<string, number> } {
  const patterns: string[] = [];
  const costs: Record<string, number> = {};
  if (!Array.isArray(value) || value.length === 0) {
    problems.add(field, `expected a list of path globs like [/v1/*], got ${describe(value)}`);
    return { patterns, costs };
  }
  value.forEach((entry: unknown, index: number) => {
    const entryField = `${field}[${index}]`;
    const pattern = isRecord(entry) ? entry.path : entry;
    if (typeof pattern !== 'string' || !/^\/[A-Za-z0-9_\-./*:{}]*$/.test(pattern)) {
      return problems.add(entryField, `expected a path glob starting with "/", got ${describe(pattern)}`);
    }
    patterns.push(pattern);
    if (isRecord(entry) && entry.cost !== undefined) {
      if (typeof entry.cost !== 'number' || !Number.isSafeInteger(entry.cost) || entry.cost < 1) {
        return problems.add(`${entryField}.cost`, `expected a whole number ≥ 1, got ${describe(entry.cost)}`);
      }
      costs[pattern] = entry.cost;
    }
  });
  return { patterns, costs };
}

function parseMeters(value: unknown, problems: Problems): MeterDefinition[] {
  const meters: MeterDefinition[] = [{ name: DEFAULT_METER, aggregation: 'sum', unit: 'call' }];
  if (value === undefined) return meters;
  if (!isRecord(value)) {
    problems.add('meters', 'expected a map of meter name → { aggregation: sum|count, unit }');
    return meters;
  }
  for (const [name, definition] of Object.entries(value)) {
    const field = `meters.${name}`;
    if (!NAME_PATTERN.test(name)) {
      problems.add(field, 'meter names are lower-case letters, digits, "_" or "-"');
      continue;
    }
    const spec = isRecord(definition) ? definition : {};
    const aggregation = spec.aggregation ?? 'sum';
    if (aggregation !== 'sum' && aggregation !== 'count') {
      problems.add(`${field}.aggregation`, `expected "sum" or "count", got ${describe(aggregation)}`);
      continue;
    }
    const unit = typeof spec.unit === 'string' ? spec.unit : 'unit';
    const existing = meters.findIndex((meter) => meter.name === name);
    const meter = { name, aggregation, unit } as MeterDefinition;
    if (existing >= 0) meters[existing] = meter;
    else meters.push(meter);
  }
  return meters;
}

function parseTier(name: string, rank: number, raw: unknown, meterNames: Set<string>, problems: Problems): TierDefinition | null {
  const field = `tiers.${name}`;
  if (!NAME_PATTERN.test(name)) {
    problems.add(field, 'tier names are lower-case letters, digits, "_" or "-"');
    return null;
  }
  if (!isRecord(raw)) {
    problems.add(field, `expected a map of tier settings, got ${describe(raw)}`);
    return null;
  }
  for (const key of Object.keys(raw)) {
    if (!TIER_FIELDS.has(key)) problems.add(`${field}.${key}`, `unknown field (allowed: ${[...TIER_FIELDS].join(', ')})`);
  }

  let price: TierPrice | Custom = CUSTOM;
  if (raw.price !== CUSTOM) {
    const parsed = parsePrice(raw.price);
    if (!parsed) problems.add(`${field}.price`, `expected 0, "49/month" or "custom", got ${describe(raw.price)}`);
    else price = parsed;
  }

  let includedCalls: number | Custom = CUSTOM;
  if (raw.included_calls !== CUSTOM) {
    const parsed = parseMonthlyCount(raw.included_calls);
    if (parsed === null) problems.add(`${field}.included_calls`, `expected "1000/month" or "custom", got ${describe(raw.included_calls)}`);
    else includedCalls = parsed;
  }

  let rateLimits: RatePolicy[] | Custom = CUSTOM;
  if (raw.rate_limit !== CUSTOM) {
    const entries = Array.isArray(raw.rate_limit) ? raw.rate_limit : [raw.rate_limit];
    rateLimits = [];
    entries.forEach((entry: unknown, index: number) => {
      const policy = parseRatePolicy(entry);
      const entryField = Array.isArray(raw.rate_limit) ? `${field}.rate_limit[${index}]` : `${field}.rate_limit`;
      if (!policy) problems.add(entryField, `expected "<count>/<sec|min|hour|day>" like "100/min" or "custom", got ${describe(entry)}`);
      else (rateLimits as RatePolicy[]).push(policy);
    });
  }

  const { patterns, costs } = parseEndpoints(raw.endpoints, `${field}.endpoints`, problems);

  let sla: number | null = null;
  if (raw.sla !== undefined) {
    const match = /^(\d+(?:\.\d+)?)\s*%?$/.exec(String(raw.sla).trim());
    const value = match ? Number(match[1]) : NaN;
    if (!(value > 0 && value <= 100)) problems.add(`${field}.sla`, `expected a percentage like "99.9%", got ${describe(raw.sla)}`);
    else sla = value;
  }

  const overage = parseOverage(raw.overage, `${field}.overage`, problems);

  const isFree = price !== CUSTOM && price.amountMinor === 0;
  let onQuotaExceeded: QuotaPolicy = isFree ? 'block' : 'overage';
  if (raw.on_quota_exceeded !== undefined) {
    if (raw.on_quota_exceeded === 'block' || raw.on_quota_exceeded === 'throttle' || raw.on_quota_exceeded === 'overage') {
      onQuotaExceeded = raw.on_quota_exceeded;
    } else {
      problems.add(`${field}.on_quota_exceeded`, `expected block, throttle or overage, got ${describe(raw.on_quota_exceeded)}`);
    }
  }

  let alertThresholds = DEFAULT_ALERT_THRESHOLDS;
  if (raw.alert_thresholds !== undefined) {
    const list = raw.alert_thresholds;
    const valid =
      Array.isArray(list) &&
      list.every((item) => typeof item === 'number' && Number.isInteger(item) && item > 0 && item <= 1000);
    if (!valid) problems.add(`${field}.alert_thresholds`, `expected a list of whole percentages like [80, 100], got ${describe(list)}`);
    else alertThresholds = [...new Set(list as number[])].sort((a, b) => a - b);
  }

  let support: string | null = null;
  if (raw.support !== undefined) {
    if (typeof raw.support !== 'string') problems.add(`${field}.support`, `expected text, got ${describe(raw.support)}`);
    else support = raw.support;
  }

  const meters: Record<string, TierMeter> = { [DEFAULT_METER]: { included: includedCalls, overage } };
  if (raw.meters !== undefined) {
    if (!isRecord(raw.meters)) problems.add(`${field}.meters`, 'expected a map of meter name → { included, overage }');
    else {
      for (const [meter, spec] of Object.entries(raw.meters)) {
        const meterField = `${field}.meters.${meter}`;
        if (!meterNames.has(meter)) {
          problems.add(meterField, `unknown meter (declare it under the top-level "meters": ${[...meterNames].join(', ')})`);
          continue;
        }
        if (meter === DEFAULT_METER) {
          problems.add(meterField, 'api_calls is set by included_calls and overage');
          continue;
        }
        const settings = isRecord(spec) ? spec : {};
        let included: number | Custom = CUSTOM;
        if (settings.included !== CUSTOM) {
          const parsed = parseMonthlyCount(settings.included);
          if (parsed === null) {
            problems.add(`${meterField}.included`, `expected "100000/month" or "custom", got ${describe(settings.included)}`);
            continue;
          }
          included = parsed;
        }
        meters[meter] = { included, overage: parseOverage(settings.overage, `${meterField}.overage`, problems) };
      }
    }
  }

  return {
    name,
    rank,
    price,
    includedCalls,
    quotaPeriod: 'month',
    rateLimits,
    endpoints: patterns,
    endpointCosts: costs,
    support,
    sla,
    overage,
    onQuotaExceeded,
    alertThresholds,
    meters,
  };
}

/** Parses and validates a catalog document; throws ConfigErrors naming every bad field. */
export function parseTierCatalog(text: string, source = 'tiers.yaml'): TierCatalog {
  const problems = new Problems(source);
  const document = parseDocument(text, { uniqueKeys: true });
  if (document.errors.length > 0) {
    const first = document.errors[0];
    const where = first.linePos?.[0] ? `line ${first.linePos[0].line}` : 'document';
    throw new ConfigErrors([new ConfigError(source, where, `invalid YAML: ${first.message.split('\n')[0]}`)]);
  }
  const root: unknown = document.toJS();
  if (!isRecord(root)) throw new ConfigErrors([new ConfigError(source, 'tiers', 'the file must be a map with a "tiers" key')]);
  for (const key of Object.keys(root)) {
    if (!TOP_FIELDS.has(key)) problems.add(key, `unknown field (allowed: ${[...TOP_FIELDS].join(', ')})`);
  }
  const meters = parseMeters(root.meters, problems);
  const meterNames = new Set(meters.map((meter) => meter.name));
  const tiers: TierDefinition[] = [];
  if (!isRecord(root.tiers) || Object.keys(root.tiers).length === 0) {
    problems.add('tiers', 'expected a map with at least one tier');
  } else {
    Object.entries(root.tiers).forEach(([name, raw], rank) => {
      const tier = parseTier(name, rank, raw, meterNames, problems);
      if (tier) tiers.push(tier);
    });
  }
  let upgradeUrl = DEFAULT_UPGRADE_URL;
  if (root.upgrade_url !== undefined) {
    if (typeof root.upgrade_url !== 'string' || !/^(https?:\/\/|\/)/.test(root.upgrade_url)) {
      problems.add('upgrade_url', `expected an absolute URL or a path, got ${describe(root.upgrade_url)}`);
    } else upgradeUrl = root.upgrade_url;
  }
  if (problems.errors.length > 0) throw new ConfigErrors(problems.errors);
  return { tiers, meters, upgradeUrl };
}

export function loadTierCatalog(path: string): TierCatalog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigErrors([new ConfigError(path, 'TOLLGATE_TIERS', reason)]);
  }
  return parseTierCatalog(text, path);
}
