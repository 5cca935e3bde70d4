import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { EndpointNotAllowedException, type FieldProblem, IpNotAllowedException } from '../common/index.js';
import { parseRatePolicy, type RatePolicy } from '../config/index.js';
import { compileEndpointGlob, normalizePath } from '../tiers/index.js';

export const REFILL_INTERVALS = ['day', 'week', 'month'] as const;
export type RefillInterval = (typeof REFILL_INTERVALS)[number];

/** The controls a key can carry; each is set (and then locked for the customer) or left alone independently. */
export const CONTROL_NAMES = ['rateLimit', 'usageCap', 'ipAllowlist', 'endpoints', 'metadata'] as const;
export type ControlName = (typeof CONTROL_NAMES)[number];

export interface UsageCap {
  /** Units the key may still spend; each admitted request spends its cost. */
  remaining: number;
  /** Start of every UTC day / ISO week (Monday) / month, `remaining` is set back to `amount` (on the first request after it). */
  refill: { amount: number; interval: RefillInterval } | null;
}

/** A key's controls as the API shows and takes them (null: not set). */
export interface KeyControlsView {
  rateLimit: string[] | null;
  usageCap: UsageCap | null;
  ipAllowlist: string[] | null;
  endpoints: string[] | null;
  metadata: Record<string, unknown> | null;
}

/** A change of controls: a field left out stays as it is, null removes it. */
export type KeyControlsInput = { [Name in Exclude<ControlName, 'usageCap'>]?: KeyControlsView[Name] | null } & {
  usageCap?: { remaining: number; refill?: UsageCap['refill'] } | null;
};

export const MAX_KEY_RATE_LIMITS = 5;
export const MAX_ALLOWLIST_ENTRIES = 50;
export const MAX_KEY_ENDPOINTS = 50;
export const MAX_ENDPOINT_GLOB_LENGTH = 200;
/** Metadata is a JSON object of at most 4 KB serialized (UTF-8) and 3 levels of nesting (the object itself is level 1). */
export const MAX_METADATA_BYTES = 4096;
export const MAX_METADATA_DEPTH = 3;
export const MAX_USAGE_UNITS = Number.MAX_SAFE_INTEGER;

const ENDPOINT_GLOB = /^\/[\x21-\x7e]*$/;

/** What the request path checks, compiled once when the key is loaded (cached with the consumer). */
export interface KeyControls {
  /** The key's own rate limits, charged on top of its customer's. */
  rateLimits: RatePolicy[];
  /** The key has a usage cap: each admitted request spends its cost from it (in the database). */
  usageCapped: boolean;
  /** The client addresses the key works from (null: any). */
  ipAllowlist: BlockList | null;
  /** The paths the key may call, as globs (null: whatever its tier allows). */
  endpoints: RegExp[] | null;
  metadata: Record<string, unknown> | null;
}

export const NO_CONTROLS: KeyControls = { rateLimits: [], usageCapped: false, ipAllowlist: null, endpoints: null, metadata: null };

/** Problems of a change of controls, by field (`usageCap.refill.amount`), for a 400 `validation_failed`. */
export function controlProblems(input: KeyControlsInput): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (field: string, problem: string) => problems.push({ field, problems: [problem] });
  if (input.rateLimit) {
    if (input.rateLimit.length === 0 || input.rateLimit.length > MAX_KEY_RATE_LIMITS) add('rateLimit', `give 1 to ${MAX_KEY_RATE_LIMITS} limits, or null to remove them`);
    input.rateLimit.forEach((policy, index) => {
      if (typeof policy !== 'string' || policy.length > 50 || !parseRatePolicy(policy)) add(`rateLimit[${index}]`, 'expected "<count>/<sec|min|hour|day>" like "100/min"');
    });
  }
  if (input.usageCap) {
    const { remaining, refill } = input.usageCap;
    if (!isUnits(remaining)) add('usageCap.remaining', `must be a whole number from 0 to ${MAX_USAGE_UNITS}`);
    if (refill) {
      if (!isUnits(refill.amount)) add('usageCap.refill.amount', `must be a whole number from 0 to ${MAX_USAGE_UNITS}`);
      if (!REFILL_INTERVALS.includes(refill.interval)) add('usageCap.refill.interval', `must be one of ${REFILL_INTERVALS.join(', ')}`);
    }
  }
  if (input.ipAllowlist) {
    if (input.ipAllowlist.length === 0 || input.ipAllowlist.length > MAX_ALLOWLIST_ENTRIES) add('ipAllowlist', `give 1 to ${MAX_ALLOWLIST_ENTRIES} addresses or CIDRs, or null to remove the allowlist`);
    input.ipAllowlist.forEach((entry, index) => {
      if (typeof entry !== 'string' || !parseCidr(entry)) add(`ipAllowlist[${index}]`, 'expected an IPv4 or IPv6 address or CIDR, like 203.0.113.0/24 or 2001:db8::/32');
    });
  }
  if (input.endpoints) {
    if (input.endpoints.length === 0 || input.endpoints.length > MAX_KEY_ENDPOINTS) add('endpoints', `give 1 to ${MAX_KEY_ENDPOINTS} globs, or null to allow whatever the tier allows`);
    input.endpoints.forEach((glob, index) => {
      if (typeof glob !== 'string' || glob.length > MAX_ENDPOINT_GLOB_LENGTH || !ENDPOINT_GLOB.test(glob)) {
        add(`endpoints[${index}]`, `expected a path glob like /v1/search/** (starting with /, visible ASCII, at most ${MAX_ENDPOINT_GLOB_LENGTH} characters)`);
      }
    });
  }
  if (input.metadata) {
    const problem = metadataProblem(input.metadata);
    if (problem) add('metadata', problem);
  }
  return problems;
}

function isUnits(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function metadataProblem(metadata: unknown): string | null {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return 'must be a JSON object';
  if (depthOf(metadata, MAX_METADATA_DEPTH + 1) > MAX_METADATA_DEPTH) return `must nest at most ${MAX_METADATA_DEPTH} levels deep`;
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) return `must be at most ${MAX_METADATA_BYTES} bytes as JSON`;
  return null;
}

/** Levels of containers in `value` (an object holding a scalar is 1), counted no further than `limit`. */
function depthOf(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (limit === 0) return 1;
  let deepest = 0;
  for (const child of Object.values(value)) deepest = Math.max(deepest, depthOf(child, limit - 1));
  return 1 + deepest;
}

interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32`; a bare address is its own /32 or /128. No zone ids. */
export function parseCidr(text: string): Cidr | null {
  const match = /^([0-9a-fA-F:.]{2,45})(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!match) return null;
  const [, address, bits] = match;
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (!family) return null;
  const max = family === 'ipv4' ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max || (bits !== undefined && bits.length > 1 && bits.startsWith('0'))) return null;
  return { address, prefix, family };
}

/** The canonical spelling stored and shown: trimmed, lower case, with its prefix. */
export function normalizeCidr(text: string): string {
  const cidr = parseCidr(text)!;
  return `${cidr.address.toLowerCase()}/${cidr.prefix}`;
}

export function compileAllowlist(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

/** Whether a client address (as Express' `request.ip` or a gateway gives it) is on the allowlist. */
export function addressAllowed(list: BlockList, address: string | null | undefined): boolean {
  if (!address) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const plain = mapped ? mapped[1] : address;
  if (isIPv4(plain)) return list.check(plain, 'ipv4');
  return isIPv6(plain) && list.check(plain, 'ipv6');
}

export function compileEndpoints(globs: readonly string[]): RegExp[] {
  return globs.map((glob) => compileEndpointGlob(glob));
}

/**
 * Where a key works from, the same at both doors (ApiKeyGuard and the verify API): with an allowlist, the client
 * address must be on it (403 `ip_not_allowed`); an unknown address fails closed. Null: allowed.
 */
export function ipRefusal(controls: KeyControls, clientAddress: string | null | undefined): IpNotAllowedException | null {
  if (!controls.ipAllowlist || addressAllowed(controls.ipAllowlist, clientAddress)) return null;
  return new IpNotAllowedException(clientAddress ? `This key may not be used from ${clientAddress.slice(0, 64)}.` : 'This key has an IP allowlist and the client address is unknown.');
}

/** What a key may call, the same at both doors (TierGuard and the verify API): 403 `endpoint_not_allowed` off its globs. */
export function endpointRefusal(controls: KeyControls, path: string): EndpointNotAllowedException | null {
  if (!controls.endpoints) return null;
  const normalized = normalizePath(path);
  if (controls.endpoints.some((pattern) => pattern.test(normalized))) return null;
  return new EndpointNotAllowedException(`This key may not call ${normalized.slice(0, 200)}.`);
}

/** Requests per second a policy allows over its window: how loose a limit is, to compare a key's with its customer's. */
export function sustainedRate(policy: RatePolicy): number {
  return policy.limit / policy.windowSeconds;
}

/** Start of the current refill period (UTC day, ISO week from Monday, month): a cap last refilled before it refills. */
export function refillPeriodStart(interval: RefillInterval, now: Date): Date {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  if (interval === 'day') return new Date(day);
  if (interval === 'month') return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const sinceMonday = (now.getUTCDay() + 6) % 7;
  return new Date(day - sinceMonday * 86_400_000);
}

/** When the next refill period starts. */
export function nextRefill(interval: RefillInterval, now: Date): Date {
  const start = refillPeriodStart(interval, now);
  if (interval === 'day') return new Date(start.getTime() + 86_400_000);
  if (interval === 'week') return new Date(start.getTime() + 7 * 86_400_000);
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}
