import { channelList, type NotificationChannel } from './notification-channel.js';

const channel = (kind: string): NotificationChannel => ({ kind, target: () => null, deliver: async () => undefined });

describe('channelList', () => {
  it('keeps the built-in channels first, then the host ones', () => {
    expect(channelList([channel('webhook'), channel('email')], [channel('slack'), channel('sms_eu-1')]).map((c) => c.kind)).toEqual(['webhook', 'email', 'slack', 'sms_eu-1']);
  });

  it.each(['Slack', 'slack alerts', '', '1slack', 'x'.repeat(41)])('refuses the malformed kind %j', (kind) => {
    expect(() => channelList([channel('webhook')], [channel(kind)])).toThrow(/notification channel kind .* is not valid/);
  });

  it('refuses a kind taken twice (a built-in one included)', () => {
    expect(() => channelList([channel('webhook'), channel('email')], [channel('email')])).toThrow('two notification channels have the kind "email"');
  });
});
