import {
  addressAllowed,
  compileAllowlist,
  compileEndpoints,
  controlProblems,
  endpointRefusal,
  ipRefusal,
  NO_CONTROLS,
  nextRefill,
  normalizeCidr,
  parseCidr,
  refillPeriodStart,
} from './key-controls.js';

describe('key controls', () => {
  describe('CIDRs', () => {
    it('takes IPv4 and IPv6 addresses and prefixes, nothing else', () => {
      expect(parseCidr('203.0.113.0/24')).toEqual({ address: '203.0.113.0', prefix: 24, family: 'ipv4' });
      expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
      expect(parseCidr('198.51.100.7')?.prefix).toBe(32);
      expect(parseCidr('::1')?.prefix).toBe(128);
      for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/08', 'fe80::1%eth0', '256.0.0.1', '10.0.0.0/', 'localhost', '', '1.2.3.4/24/1']) {
        expect({ bad, parsed: parseCidr(bad) }).toEqual({ bad, parsed: null });
      }
      expect(normalizeCidr(' 2001:DB8::/32 ')).toBe('2001:db8::/32');
    });

    it('matches addresses inside the ranges, IPv4-mapped IPv6 as IPv4', () => {
      const list = compileAllowlist(['203.0.113.0/24', '2001:db8::/32']);
      expect(addressAllowed(list, '203.0.113.255')).toBe(true);
      expect(addressAllowed(list, '::ffff:203.0.113.1')).toBe(true);
      expect(addressAllowed(list, '2001:db8:ffff::1')).toBe(true);
      expect(addressAllowed(list, '203.0.114.1')).toBe(false);
      expect(addressAllowed(list, '2001:db9::1')).toBe(false);
      expect(addressAllowed(list, 'garbage')).toBe(false);
      expect(addressAllowed(list, undefined)).toBe(false);
    });

    it('fails closed: a key with an allowlist and no known address is refused; without an allowlist anything goes', () => {
      const controls = { ...NO_CONTROLS, ipAllowlist: compileAllowlist(['10.0.0.0/8']) };
      expect(ipRefusal(controls, undefined)?.code).toBe('ip_not_allowed');
      expect(ipRefusal(controls, '10.1.1.1')).toBeNull();
      expect(ipRefusal(NO_CONTROLS, undefined)).toBeNull();
    });
  });

  it('narrows endpoints with the tiers.yaml glob syntax', () => {
    const controls = { ...NO_CONTROLS, endpoints: compileEndpoints(['/v1/basic/*', '/v1/reports/**']) };
    expect(endpointRefusal(controls, '/v1/basic/echo')).toBeNull();
    expect(endpointRefusal(controls, '/v1/basic/echo/')).toBeNull();
    expect(endpointRefusal(controls, '/v1/reports/a/b?x=1')).toBeNull();
    expect(endpointRefusal(controls, '/v1/basic/a/b')?.code).toBe('endpoint_not_allowed');
    expect(endpointRefusal(controls, '/v1/search')?.code).toBe('endpoint_not_allowed');
  });

  it('names each bad field', () => {
    expect(
      controlProblems({
        rateLimit: ['1/fortnight'],
        usageCap: { remaining: 2 ** 53, refill: { amount: -1, interval: 'day' } },
        ipAllowlist: ['10.0.0.0/33'],
        endpoints: ['no-slash'],
        metadata: { a: { b: { c: { d: 1 } } } },
      }).map((problem) => problem.field),
    ).toEqual(['rateLimit[0]', 'usageCap.remaining', 'usageCap.refill.amount', 'ipAllowlist[0]', 'endpoints[0]', 'metadata']);
    expect(controlProblems({ metadata: { a: { b: { c: 1 } } } })).toEqual([]);
    expect(controlProblems({ metadata: { blob: 'x'.repeat(4096) } })[0].problems[0]).toContain('4096 bytes');
  });

  it('refills at the start of each UTC day, ISO week (Monday) and month', () => {
    const now = new Date('2026-12-02T15:30:00Z'); // a Wednesday
    expect(refillPeriodStart('day', now).toISOString()).toBe('2026-12-02T00:00:00.000Z');
    expect(refillPeriodStart('week', now).toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(refillPeriodStart('month', now).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(nextRefill('day', now).toISOString()).toBe('2026-12-03T00:00:00.000Z');
    expect(nextRefill('week', now).toISOString()).toBe('2026-12-07T00:00:00.000Z');
    expect(nextRefill('month', new Date('2026-12-31T23:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(refillPeriodStart('week', new Date('2026-12-06T23:59:59Z')).toISOString()).toBe('2026-11-30T00:00:00.000Z');
  });
});
