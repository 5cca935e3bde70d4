import { nonPublicRange, NOT_PUBLIC_ADDRESS, NOT_PUBLIC_NAME, webhookUrlProblem } from './webhook-destination.js';

describe('nonPublicRange', () => {
  it.each([
    ['0.0.0.0', '0.0.0.0/8'],
    ['0.1.2.3', '0.0.0.0/8'],
    ['10.1.2.3', '10.0.0.0/8'],
    ['100.64.0.1', '100.64.0.0/10'],
    ['100.127.255.255', '100.64.0.0/10'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', '172.16.0.0/12'],
    ['172.31.255.255', '172.16.0.0/12'],
    ['192.0.0.8', '192.0.0.0/24'],
    ['192.0.2.1', 'documentation'],
    ['192.168.1.1', '192.168.0.0/16'],
    ['198.18.0.1', '198.18.0.0/15'],
    ['198.19.255.255', '198.18.0.0/15'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', '240.0.0.0/4'],
    ['255.255.255.255', '240.0.0.0/4'],
    ['::', 'unspecified'],
    ['::1', 'loopback (::1)'],
    ['0:0:0:0:0:0:0:1', 'loopback (::1)'],
    // IPv4-mapped, in every spelling: judged by the IPv4 address inside.
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback'],
    ['0:0:0:0:0:ffff:7f00:0001', 'IPv4-mapped loopback'],
    ['::FFFF:A9FE:A9FE', 'IPv4-mapped link-local'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    // IPv4-translated and IPv4-compatible: refused whatever they carry.
    ['::ffff:0:127.0.0.1', 'IPv4-translated'],
    ['::ffff:0:7f00:1', 'IPv4-translated'],
    ['::127.0.0.1', 'IPv4-compatible'],
    ['::7f00:1', 'IPv4-compatible'],
    ['::8.8.8.8', 'IPv4-compatible'],
    ['64:ff9b::7f00:1', 'NAT64'],
    ['64:ff9b::8.8.8.8', 'NAT64'],
    ['64:ff9b:1::1', 'local NAT64'],
    ['100::1', 'discard-only'],
    ['2001::1', 'Teredo'],
    ['2001:db8::1', 'documentation'],
    ['2002:7f00:1::', '6to4'],
    ['fc00::1', 'unique local'],
    ['fd12:3456::1', 'unique local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['4000::1', 'not global unicast'],
  ])('refuses %s (%s)', (address, label) => {
    expect(nonPublicRange(address)).toContain(label);
  });

  it.each(['1.1.1.1', '8.8.8.8', '93.184.215.14', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.169.0.1', '198.17.255.255', '198.20.0.0', '223.255.255.255', '::ffff:8.8.8.8', '::ffff:808:808', '2606:4700::1111', '2a00:1450:4001:80b::200e', '2001:4860:4860::8888'])(
    'accepts %s',
    (address) => {
      expect(nonPublicRange(address)).toBeNull();
    },
  );

  it('throws on a name', () => {
    expect(() => nonPublicRange('localhost')).toThrow('not an IP address');
  });
});

describe('webhookUrlProblem (customer-set URLs)', () => {
  it.each([
    'https://hooks.example.com/tollgate',
    'http://api.example.org:8080/hooks?x=1',
    'https://hooks.example.com./tollgate',
    'https://93.184.215.14/hook',
    'https://[2606:4700::1111]/hook',
    'https://[::ffff:8.8.8.8]/hook',
  ])('accepts %s', (url) => {
    expect(webhookUrlProblem(url)).toBeNull();
  });

  it.each([
    ['not a url', 'absolute URL'],
    ['ftp://example.com/x', 'https://'],
    ['https://user:pw@example.com/x', 'user name'],
    [`https://example.com/${'x'.repeat(2000)}`, 'at most 2000'],
    ['http://localhost:3000/hook', NOT_PUBLIC_NAME],
    ['http://LOCALHOST/hook', NOT_PUBLIC_NAME],
    ['http://localhost./hook', NOT_PUBLIC_NAME],
    ['http://localhost../hook', 'valid host name'],
    ['http://a..example.com/hook', 'valid host name'],
    ['http://api.localhost/hook', NOT_PUBLIC_NAME],
    ['http://printer.local/hook', NOT_PUBLIC_NAME],
    ['http://%6c%6fcalhost/hook', NOT_PUBLIC_NAME],
    ['http://intranet/hook', NOT_PUBLIC_NAME],
    ['http://metadata.internal/x', NOT_PUBLIC_NAME],
    ['http://metadata.google.internal./x', NOT_PUBLIC_NAME],
    ['http://nas.home.arpa/x', NOT_PUBLIC_NAME],
    ['http://127.0.0.1:9000/hook', NOT_PUBLIC_ADDRESS],
    ['http://127.0.0.1./hook', NOT_PUBLIC_ADDRESS],
    ['http://127.1/hook', NOT_PUBLIC_ADDRESS],
    ['http://2130706433/hook', NOT_PUBLIC_ADDRESS],
    ['http://0x7f.1/hook', NOT_PUBLIC_ADDRESS],
    ['http://0x7f000001/hook', NOT_PUBLIC_ADDRESS],
    ['http://017700000001/hook', NOT_PUBLIC_ADDRESS],
    ['http://0177.0.0.1/hook', NOT_PUBLIC_ADDRESS],
    ['http://127。0。0。1/hook', NOT_PUBLIC_ADDRESS],
    ['http://0/hook', NOT_PUBLIC_ADDRESS],
    ['http://0.0.0.0/hook', NOT_PUBLIC_ADDRESS],
    ['http://10.1.2.3/hook', NOT_PUBLIC_ADDRESS],
    ['http://172.20.0.5/hook', NOT_PUBLIC_ADDRESS],
    ['http://192.168.1.1/hook', NOT_PUBLIC_ADDRESS],
    ['http://169.254.169.254/latest/meta-data', NOT_PUBLIC_ADDRESS],
    ['http://100.100.100.200/latest/meta-data', NOT_PUBLIC_ADDRESS],
    ['http://[::]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[::1]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[::ffff:127.0.0.1]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[0:0:0:0:0:ffff:7f00:1]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[::ffff:0:127.0.0.1]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[::127.0.0.1]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[64:ff9b::7f00:1]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[2002:7f00:1::]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[fd00::1]/hook', NOT_PUBLIC_ADDRESS],
    ['http://[fe80::1]/hook', NOT_PUBLIC_ADDRESS],
  ])('refuses %s', (url, reason) => {
    expect(webhookUrlProblem(url)).toContain(reason);
  });
});
