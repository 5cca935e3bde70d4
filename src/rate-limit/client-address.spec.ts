import { clientAddressBucket } from './client-address.js';

describe('clientAddressBucket', () => {
  it('keeps IPv4 addresses apart, and unwraps IPv4-mapped IPv6', () => {
    expect(clientAddressBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressBucket('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientAddressBucket('203.0.113.8')).not.toBe(clientAddressBucket('203.0.113.7'));
  });

  it('puts every address of one IPv6 /64 in one bucket, whatever the notation', () => {
    const bucket = clientAddressBucket('2001:db8:0:1::1');
    expect(bucket).toBe('2001:db8:0:1::/64');
    expect(clientAddressBucket('2001:0DB8:0000:0001:ffff:ffff:ffff:ffff')).toBe(bucket);
    expect(clientAddressBucket('2001:db8:0:1:1:2:3.4.5.6')).toBe(bucket);
    expect(clientAddressBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientAddressBucket('2001:db8:0:2::1')).not.toBe(bucket);
    expect(clientAddressBucket('::1')).toBe('0:0:0:0::/64');
  });

  it('gives anything else one shared bucket', () => {
    expect(clientAddressBucket(undefined)).toBe('unknown');
    expect(clientAddressBucket('not an address')).toBe('unknown');
  });
});
