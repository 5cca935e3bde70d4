import { BadRequestException } from '@nestjs/common';
import { StripeWebhookErrors } from '../billing/index.js';
import { ConsoleService } from './console.service.js';

type Ctor = ConstructorParameters<typeof ConsoleService>;

/** A ConsoleService over stand-ins of the services it reads: the attention list is assembled from their answers. */
function consoleWith(parts: {
  failed?: unknown[];
  pending?: unknown[];
  dead?: unknown[];
  spooled?: number;
  transport?: unknown;
  rows?: unknown[];
  webhookErrors?: StripeWebhookErrors;
}) {
  const outbox = { unresolvedFailures: async () => parts.failed ?? [], recent: async () => parts.pending ?? [] };
  const reconciliation = { reconcile: async () => ({ rows: parts.rows ?? [], driftDetected: 0, failedPushes: [], warnings: [] }) };
  const notifications = { deadLetters: async () => parts.dead ?? [] };
  const ingestor = { pendingSpoolFiles: async () => parts.spooled ?? 0, transportStatus: async () => parts.transport ?? { transport: 'direct' } };
  const none = {} as never;
  return new ConsoleService(
    none as Ctor[0],
    none as Ctor[1],
    none as Ctor[2],
    outbox as unknown as Ctor[3],
    reconciliation as unknown as Ctor[4],
    none as Ctor[5],
    notifications as unknown as Ctor[6],
    none as Ctor[7],
    none as Ctor[8],
    ingestor as unknown as Ctor[9],
    parts.webhookErrors ?? new StripeWebhookErrors(),
  );
}

describe('ConsoleService.attention', () => {
  const now = new Date('2026-12-03T12:00:00Z');

  it('is empty when nothing is wrong', async () => {
    expect(await consoleWith({}).attention(now)).toEqual([]);
  });

  it('lists failed pushes, pushes pending over two hours (not younger ones), dead letters, spool files and drift', async () => {
    const items = await consoleWith({
      failed: [{ id: '7', customerId: 'cus_a', meter: 'api_calls', failureCode: 'no_meter', lastError: 'x' }],
      pending: [
        { id: '8', customerId: 'cus_b', meter: 'api_calls', createdAt: new Date(now.getTime() - 3 * 3600_000) },
        { id: '9', customerId: 'cus_c', meter: 'api_calls', createdAt: new Date(now.getTime() - 10 * 60_000) },
      ],
      dead: [{ customerId: 'cus_d', notificationId: 'ntf_1', kind: 'usage_threshold', channel: 'webhook', attempts: 8, lastError: 'timeout' }],
      spooled: 2,
      webhookErrors: (() => {
        const errors = new StripeWebhookErrors();
        errors.record(new BadRequestException({ error: 'invalid_signature', message: 'The Stripe signature does not verify.' }), new Date(now.getTime() - 25 * 3600_000));
        errors.record(new BadRequestException({ error: 'invalid_signature', message: 'The Stripe signature does not verify.' }), new Date(now.getTime() - 3600_000));
        return errors;
      })(),
      rows: [
        { customerId: 'cus_e', meter: 'api_calls', drift: 5 },
        { customerId: 'cus_f', meter: 'api_calls', drift: 0 },
        { customerId: 'cus_g', meter: 'api_calls', drift: null },
      ],
    }).attention(now);
    expect(items.map((item) => [item.kind, item.customerId])).toEqual([
      ['failed_push', 'cus_a'],
      ['stuck_push', 'cus_b'],
      ['dead_letter', 'cus_d'],
      ['spool', ''],
      ['webhook_error', ''],
      ['drift', 'cus_e'],
    ]);
    expect(items[0].detail).toContain('no_meter');
    expect(items[2].detail).toContain('after 8 attempt(s): timeout');
    expect(items[3].detail).toContain('2 spool file(s)');
    // Only the refusal of the last 24 hours.
    expect(items[4].detail).toContain('invalid_signature');
  });

  it('says when JetStream is unreachable or events pile up in the stream, and nothing when it keeps up', async () => {
    const jetstream = { transport: 'jetstream', connected: true, pending: 3, ackPending: 10, redelivered: 0, fallbacks: 0, refused: 0 };
    expect(await consoleWith({ transport: jetstream }).attention(now)).toEqual([]);
    const away = await consoleWith({ transport: { ...jetstream, connected: false, pending: null, ackPending: null } }).attention(now);
    expect(away.map((item) => [item.kind, item.detail])).toEqual([['ingest', expect.stringContaining('unreachable')]]);
    const behind = await consoleWith({ transport: { ...jetstream, pending: 25_000, ackPending: 2_000 } }).attention(now);
    expect(behind.map((item) => [item.kind, item.detail])).toEqual([['ingest', expect.stringContaining('27000 usage events wait')]]);
  });
});
