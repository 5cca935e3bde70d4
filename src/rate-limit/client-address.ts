import { isIPv4, isIPv6 } from 'node:net';

/** The IPv6 prefix one client is assumed to hold: a /64 is the usual smallest assignment (a home, a VM). */
const IPV6_CLIENT_GROUPS = 4;

/**
 * The rate-limit bucket of a client address: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64, since
 * a single client can pick any of 2^64 addresses in its own /64 and would otherwise get a fresh budget each.
 */
export function clientAddressBucket(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(address)) return address;
  const withoutZone = address.split('%')[0];
  if (!isIPv6(withoutZone)) return 'unknown';
  return `${expandIPv6(withoutZone).slice(0, IPV6_CLIENT_GROUPS).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, in lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address.toLowerCase();
  // A trailing dotted IPv4 part stands for the last two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail === undefined ? [] : tail ? tail.split(':') : [];
  const missing = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  return [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups].map((group) => parseInt(group, 16).toString(16));
}
