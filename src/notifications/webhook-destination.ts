import { isIP } from 'node:net';

/**
 * Where a webhook set by a customer may point: public unicast addresses only. Tollgate POSTs from inside the
 * operator's network, so a customer URL reaching loopback, private, link-local or cloud-metadata addresses would
 * let any key holder probe that network (SSRF). URLs set by the operator are not held to this.
 */

type Bytes = readonly number[];

interface Range {
  bytes: Bytes;
  prefix: number;
  label: string;
}

function range(text: string, prefix: number, label: string): Range {
  return { bytes: addressBytes(text), prefix, label };
}

const IPV4_NON_PUBLIC: Range[] = [
  range('0.0.0.0', 8, '"this network" (0.0.0.0/8)'),
  range('10.0.0.0', 8, 'private (10.0.0.0/8)'),
  range('100.64.0.0', 10, 'shared/CGNAT (100.64.0.0/10)'),
  range('127.0.0.0', 8, 'loopback (127.0.0.0/8)'),
  range('169.254.0.0', 16, 'link-local (169.254.0.0/16)'),
  range('172.16.0.0', 12, 'private (172.16.0.0/12)'),
  range('192.0.0.0', 24, 'IETF protocol assignments (192.0.0.0/24)'),
  range('192.0.2.0', 24, 'documentation (192.0.2.0/24)'),
  range('192.88.99.0', 24, '6to4 relay (192.88.99.0/24)'),
  range('192.168.0.0', 16, 'private (192.168.0.0/16)'),
  range('198.18.0.0', 15, 'benchmarking (198.18.0.0/15)'),
  range('198.51.100.0', 24, 'documentation (198.51.100.0/24)'),
  range('203.0.113.0', 24, 'documentation (203.0.113.0/24)'),
  range('224.0.0.0', 4, 'multicast (224.0.0.0/4)'),
  range('240.0.0.0', 4, 'reserved or broadcast (240.0.0.0/4)'),
];

/** Checked inside 2000::/3 (global unicast); everything outside it is refused anyway. */
const IPV6_NON_PUBLIC: Range[] = [
  range('2001::', 23, 'IETF protocol assignments incl. Teredo (2001::/23)'),
  range('2001:db8::', 32, 'documentation (2001:db8::/32)'),
  range('2002::', 16, '6to4, embeds an IPv4 address (2002::/16)'),
  range('3fff::', 20, 'documentation (3fff::/20)'),
];

const MAPPED = range('::ffff:0:0', 96, 'IPv4-mapped');
const GLOBAL_UNICAST = range('2000::', 3, 'global unicast');

/** The named ranges outside global unicast, for a readable reason (all of them are refused). */
const IPV6_NAMED: Range[] = [
  range('::', 128, 'unspecified (::)'),
  range('::1', 128, 'loopback (::1)'),
  range('::ffff:0:0:0', 96, 'IPv4-translated (::ffff:0:0:0/96)'),
  range('::', 96, 'IPv4-compatible (::/96, deprecated)'),
  range('64:ff9b::', 96, 'NAT64 (64:ff9b::/96)'),
  range('64:ff9b:1::', 48, 'local NAT64 (64:ff9b:1::/48)'),
  range('100::', 64, 'discard-only (100::/64)'),
  range('fc00::', 7, 'unique local (fc00::/7)'),
  range('fe80::', 10, 'link-local (fe80::/10)'),
  range('fec0::', 10, 'site-local (fec0::/10, deprecated)'),
  range('ff00::', 8, 'multicast (ff00::/8)'),
];

function inRange(bytes: Bytes, candidate: Range): boolean {
  if (bytes.length !== candidate.bytes.length) return false;
  for (let bit = 0; bit < candidate.prefix; bit += 8) {
    const bits = Math.min(8, candidate.prefix - bit);
    const mask = (0xff << (8 - bits)) & 0xff;
    if ((bytes[bit / 8] & mask) !== (candidate.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

/** 4 or 16 bytes of an IP address in any text form `net.isIP` accepts (zone ids dropped). */
function addressBytes(text: string): number[] {
  const family = isIP(text);
  if (family === 4) return text.split('.').map(Number);
  if (family !== 6) throw new Error(`not an IP address: ${text}`);
  let address = text.toLowerCase().replace(/%.*$/, '');
  // A dotted IPv4 tail (`::ffff:1.2.3.4`) becomes two hex groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    address = `${address.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = address.includes('::') ? address.split('::') : [address, null];
  const groups = (part: string | null) => (part ? part.split(':').map((group) => parseInt(group, 16)) : []);
  const headGroups = groups(head);
  const tailGroups = groups(tail);
  const all = tail === null ? headGroups : [...headGroups, ...Array<number>(8 - headGroups.length - tailGroups.length).fill(0), ...tailGroups];
  return all.flatMap((group) => [group >> 8, group & 0xff]);
}

/**
 * Why `address` is not a public unicast address (a short description of its range), or null when it is.
 * IPv4-mapped IPv6 addresses are judged by the IPv4 address they carry. Throws on a non-IP.
 */
export function nonPublicRange(address: string): string | null {
  const bytes = addressBytes(address);
  if (bytes.length === 4) return IPV4_NON_PUBLIC.find((candidate) => inRange(bytes, candidate))?.label ?? null;
  if (inRange(bytes, MAPPED)) {
    const inner = nonPublicRange(bytes.slice(12).join('.'));
    return inner && `IPv4-mapped ${inner}`;
  }
  if (!inRange(bytes, GLOBAL_UNICAST)) return IPV6_NAMED.find((candidate) => inRange(bytes, candidate))?.label ?? 'not global unicast (outside 2000::/3)';
  return IPV6_NON_PUBLIC.find((candidate) => inRange(bytes, candidate))?.label ?? null;
}

/** Names that only mean something inside a network (RFC 6761/6762/8375 and common private suffixes). */
const INTERNAL_NAMES = /(^|\.)(localhost|local|internal|intranet|lan|localdomain|home\.arpa)$/;

export const NOT_PUBLIC_ADDRESS = 'must be a public address, not a loopback or private one';
export const NOT_PUBLIC_NAME = 'must be a public host name, not a local one';

/** A URL's host without IPv6 brackets: an IP address `net.isIP` accepts, or a name. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Why a webhook URL set by a customer is refused, or null when its text is acceptable. This is the check at the
 * time it is set; the delivery worker checks the addresses the name resolves to at every attempt.
 */
export function webhookUrlProblem(raw: string): string | null {
  if (raw.length > 2000) return 'must be at most 2000 characters';
  let url: URL;
  try {
    // WHATWG parsing normalises every IPv4 spelling (2130706433, 0x7f.1, 017700000001, 127.1) to dotted decimal.
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL like https://example.com/hooks/tollgate';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must start with https:// or http://';
  if (url.username || url.password) return 'must not contain a user name or password';
  const host = hostOf(url);
  if (!host) return 'must name a host';
  if (isIP(host) !== 0) return nonPublicRange(host) ? NOT_PUBLIC_ADDRESS : null;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  // `localhost..`, `a..b`: an empty label is not a host name (and resolvers differ on what they do with it).
  if (name.split('.').some((label) => label.length === 0)) return 'must be a valid host name';
  if (!name.includes('.') || INTERNAL_NAMES.test(name)) return NOT_PUBLIC_NAME;
  return null;
}
