import { BlockList, isIP } from 'node:net';

/** Loopback, private, link-local, CGNAT, multicast and reserved ranges: never a customer's public endpoint. */
const NON_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 127],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(network, prefix, 'ipv6');
}

/** An IPv4-mapped IPv6 address (`::ffff:7f00:1`, `::ffff:127.0.0.1`) as its IPv4 address, else null. */
function mappedIpv4(host: string): string | null {
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
  if (dotted) return dotted[1];
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!hex) return null;
  const [high, low] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

const INTERNAL_NAMES = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/;

/**
 * Why a webhook URL set by a customer in the self-service portal is refused, or null when it is acceptable.
 * The portal is open to every key holder, so it refuses URLs that point into the operator's own network
 * (the delivery worker would POST there). Operators can still set any URL through the admin API.
 */
export function webhookUrlProblem(raw: string): string | null {
  if (raw.length > 2000) return 'must be at most 2000 characters';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL like https://example.com/hooks/tollgate';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must start with https:// or http://';
  if (url.username || url.password) return 'must not contain a user name or password';
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (!host) return 'must name a host';
  const family = isIP(host);
  if (family === 0 && (INTERNAL_NAMES.test(host) || !host.includes('.'))) return 'must be a public host name, not a local one';
  const mapped = family === 6 ? mappedIpv4(host) : null;
  const isPrivate = mapped ? NON_PUBLIC.check(mapped, 'ipv4') : family !== 0 && NON_PUBLIC.check(host, family === 4 ? 'ipv4' : 'ipv6');
  if (isPrivate) return 'must be a public address, not a loopback or private one';
  return null;
}
