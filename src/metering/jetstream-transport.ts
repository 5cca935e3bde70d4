import { createHash, randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { ConsumerMessages, JetStreamClient, JsMsg, MsgHdrs, NatsConnection, Subscription } from 'nats';
import { loadOptionalPeer } from '../common/index.js';
import { counterKey, type CounterTotal, eventIdentity, type LedgerEvent, ledgerEventFromJson } from './usage-ledger.js';

/** What the JetStream transport needs to know (TollgateConfig's ingest options). */
export interface JetStreamSettings {
  natsUrl: string;
  stream: string;
  replicas: number;
  duplicateWindowMs: number;
}

/** What became of one streamed event once its batch was written. */
export type StreamedOutcome = 'inserted' | 'duplicate' | { refused: string };

/** Per event what became of it, and the counters the batch moved. */
export interface StreamedBatch {
  outcomes: StreamedOutcome[];
  counters: CounterTotal[];
}

/** The ledger side of the transport: one idempotent batch write (the ingestor's), or a throw to retry later. */
export type StreamCommit = (events: LedgerEvent[]) => Promise<StreamedBatch>;

/** What `/health/ready` and `/metrics` report about the transport. */
export interface StreamStatus {
  transport: 'jetstream';
  /** False while NATS is unreachable: events then take the direct path (database, or the local spool). */
  connected: boolean;
  /** Messages in the stream not yet delivered to a consumer (the consumer's lag). */
  pending: number | null;
  /** Delivered, not yet acknowledged (being written, or waiting for the database). */
  ackPending: number | null;
  /** Messages this instance's consumer was given again since it started (an instance died, the database was away). */
  redelivered: number;
  /** Events this instance sent the direct way because NATS did not take them. */
  fallbacks: number;
  /** Streamed events the ledger refused on their own (kept aside, acknowledged). */
  refused: number;
}

const HEADER_ORIGIN = 'Tollgate-Origin';
// The publish ack is the durable answer; a NATS that does not give it in time is treated as down for that event.
const PUBLISH_TIMEOUT_MS = 2_000;
// A batch not acknowledged in this time is delivered again (to any instance): a killed instance holds nothing long.
const ACK_WAIT_MS = 10_000;
const MAX_BATCH = 1_000;
const MAX_CONCURRENT_COMMITS = 2;
// While the database is away, a batch is handed back and offered again after this delay.
const RETRY_DELAY_MS = 1_000;
// An acknowledged event whose commit news never came (lost broadcast): counted as queued this long at most.
const QUEUED_EXPIRY_MS = 60_000;
const RECONNECT_WAIT_MS = 500;

interface Queued {
  counter: string;
  quantity: bigint;
  at: number;
}

/** The counters' new totals, as a committing instance broadcasts them. */
interface TotalsNews {
  counters: Array<{ customerId: string; meter: string; periodStart: string; periodEnd: string; total: string }>;
}
/**
 * What a committing instance tells a publishing one: which of its events are settled. Carries the totals too, so the
 * publisher's cache moves before its queued units go (never a moment under-counted).
 */
interface SettledNews extends TotalsNews {
  identities: string[];
}

/** Nats-Msg-Id of an event: its ledger identity, hashed so any key text is a valid header value. */
export function streamMessageId(identity: string): string {
  return createHash('sha256').update(identity).digest('base64url');
}

/**
 * Ingest through a NATS JetStream stream. A metered request's durable answer is the stream's publish ack (file
 * storage, R1 or more; the event's ledger identity as `Nats-Msg-Id`, so the stream dedupes retries too). Every
 * instance pulls from ONE durable consumer: batches go through the same idempotent ledger statement as the direct
 * path and are acknowledged after commit, so a redelivery (instance killed, database away) counts nothing twice.
 *
 * An event acknowledged by the stream but not yet committed is still counted by the publishing instance's quota
 * ("queued"), until the committing instance (any of them) says it is settled: quotas never forget a served request.
 */
export class JetStreamTransport {
  private readonly logger = new Logger('JetStreamIngest');
  private readonly origin = randomBytes(8).toString('hex');
  private readonly subject: string;
  private readonly durable: string;
  private connection: NatsConnection | null = null;
  private jetstream: JetStreamClient | null = null;
  private messages: ConsumerMessages | null = null;
  private subscriptions: Subscription[] = [];
  /** `Tollgate-Origin: <this instance>` on every message: whom to tell once it is settled. */
  private originHeaders: MsgHdrs | null = null;
  private ready = false;
  private stopped = false;
  private fallbacks = 0;
  private refusedCount = 0;
  private redeliveredCount = 0;
  private buffer: JsMsg[] = [];
  private cancelScheduled: (() => void) | null = null;
  private readonly commits = new Set<Promise<void>>();
  private pausedUntil = 0;
  private readonly queued = new Map<string, Queued>();
  private readonly queuedByCounter = new Map<string, bigint>();
  /** Settled before their publish ack was seen here (the broadcast overtook the ack). */
  private readonly settledEarly = new Set<string>();
  private expiryTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly settings: JetStreamSettings,
    private readonly commit: StreamCommit,
    private readonly onTotals: (counters: CounterTotal[]) => void,
  ) {
    this.subject = `${settings.stream}.events`;
    this.durable = `${settings.stream}_ledger`;
  }

  /** True when a publish can be tried: connected, stream and consumer in place. */
  get available(): boolean {
    return this.ready;
  }

  /**
   * Loads the `nats` package (a missing one stops start-up, naming it) and connects in the background: until NATS
   * answers, events take the direct path.
   */
  async start(): Promise<void> {
    const nats = await loadOptionalPeer('nats', 'the JetStream ingest transport (TOLLGATE_INGEST_TRANSPORT=jetstream)', () => import('nats'));
    this.expiryTimer = setInterval(() => this.expireQueued(), QUEUED_EXPIRY_MS / 4);
    this.expiryTimer.unref();
    void this.connect(nats);
  }

  private async connect(nats: typeof import('nats')): Promise<void> {
    try {
      this.connection = await nats.connect({
        servers: this.settings.natsUrl.split(','),
        name: `tollgate-${this.origin}`,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_WAIT_MS,
        waitOnFirstConnect: true,
        // Otherwise every publish builds two Errors with stack traces (request context, timeout) that are almost
        // never thrown: about 30 % of the client's CPU per publish, measured in a loop of acknowledged publishes.
        noAsyncTraces: true,
      });
    } catch (error) {
      if (!this.stopped) this.logger.error(`cannot connect to NATS: ${(error as Error).message}; the direct path is used`);
      return;
    }
    if (this.stopped) return void (await this.connection.close());
    void this.watchStatus(this.connection);
    await this.setUp();
  }

  private settingUp: Promise<void> | null = null;

  /** Stream, consumer and subscriptions: after the first connect and after every reconnect (a new server may have none). */
  private setUp(): Promise<void> {
    // One at a time: a reconnect during a retry must not start a second consume loop.
    this.settingUp ??= this.setUpOnce().finally(() => (this.settingUp = null));
    return this.settingUp;
  }

  private async setUpOnce(): Promise<void> {
    const connection = this.connection;
    if (!connection || this.stopped) return;
    const nats = await import('nats');
    try {
      const manager = await connection.jetstreamManager();
      const config = {
        name: this.settings.stream,
        subjects: [this.subject],
        storage: nats.StorageType.File,
        num_replicas: this.settings.replicas,
        duplicate_window: nats.nanos(this.settings.duplicateWindowMs),
        // Acknowledged messages leave the stream: it holds only what is not in the ledger yet.
        retention: nats.RetentionPolicy.Workqueue,
      };
      try {
        const info = await manager.streams.info(this.settings.stream);
        if (info.config.num_replicas !== config.num_replicas || info.config.duplicate_window !== config.duplicate_window) {
          await manager.streams.update(this.settings.stream, { ...info.config, num_replicas: config.num_replicas, duplicate_window: config.duplicate_window });
        }
      } catch (error) {
        if (!/stream not found/i.test((error as Error).message)) throw error;
        await manager.streams.add(config);
      }
      await manager.consumers.add(this.settings.stream, {
        durable_name: this.durable,
        ack_policy: nats.AckPolicy.Explicit,
        ack_wait: nats.nanos(ACK_WAIT_MS),
        max_ack_pending: 20_000,
        deliver_policy: nats.DeliverPolicy.All,
      });
      this.jetstream = connection.jetstream();
      const origin = nats.headers();
      origin.set(HEADER_ORIGIN, this.origin);
      this.originHeaders = origin;
      for (const subscription of this.subscriptions) subscription.unsubscribe();
      this.subscriptions = [
        connection.subscribe(`${this.settings.stream}.settled.${this.origin}`, { callback: (error, message) => !error && this.heard(() => this.onSettled(message.json<SettledNews>())) }),
        connection.subscribe(`${this.settings.stream}.totals`, { callback: (error, message) => !error && this.heard(() => this.onTotalsNews(message.json<TotalsNews>())) }),
      ];
      const consumer = await this.jetstream.consumers.get(this.settings.stream, this.durable);
      this.messages?.stop();
      this.messages = await consumer.consume({ max_messages: MAX_BATCH * MAX_CONCURRENT_COMMITS });
      this.ready = true;
      this.logger.log(`ingest through JetStream stream ${this.settings.stream} (R${this.settings.replicas})`);
      void this.pull(this.messages);
    } catch (error) {
      this.ready = false;
      this.logger.error(`JetStream set-up failed: ${(error as Error).message}; retrying, the direct path is used meanwhile`);
      setTimeout(() => void this.setUp(), RECONNECT_WAIT_MS * 4).unref();
    }
  }

  /** News that does not parse (not ours) is dropped: it must never break the subscription. */
  private heard(handle: () => void): void {
    try {
      handle();
    } catch (error) {
      this.logger.warn(`ignored a malformed ingest news message: ${(error as Error).message}`);
    }
  }

  private async watchStatus(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      if (status.type === 'disconnect') {
        if (this.ready) this.logger.warn('NATS disconnected: events take the direct path until it is back');
        this.ready = false;
      } else if (status.type === 'reconnect') {
        this.logger.log('NATS reconnected');
        void this.setUp();
      }
    }
  }

  /**
   * Publishes one event; resolves with the stream's verdict once it is stored (the durable ack), or rejects when
   * NATS did not take it in time: the caller then sends it the direct way (the ledger dedupes it if it did land).
   */
  publish(event: LedgerEvent, identity: string): Promise<'accepted' | 'duplicate'> {
    const jetstream = this.jetstream;
    if (!jetstream || !this.ready || !this.originHeaders) return Promise.reject(new Error('NATS is not connected'));
    const options = { msgID: streamMessageId(identity), headers: this.originHeaders, timeout: PUBLISH_TIMEOUT_MS };
    return jetstream.publish(this.subject, JSON.stringify(event), options).then(
      (ack) => {
        if (ack.duplicate) return 'duplicate';
        this.noteQueued(identity, event);
        return 'accepted';
      },
      (error: Error) => {
        this.suspend();
        throw error;
      },
    );
  }

  /**
   * A publish got no ack (a hung server, a stream that lost its leader): stop trying — later requests take the
   * direct path at once instead of each waiting for the publish timeout — until a probe of the stream answers.
   */
  private suspend(): void {
    if (!this.ready || this.stopped) return;
    this.ready = false;
    this.logger.warn('JetStream did not acknowledge a publish: events take the direct path until the stream answers again');
    const probe = async () => {
      const connection = this.connection;
      if (this.stopped || !connection || connection.isClosed()) return;
      try {
        const manager = await connection.jetstreamManager({ timeout: PUBLISH_TIMEOUT_MS });
        await manager.streams.info(this.settings.stream);
        this.ready = true;
        this.logger.log('JetStream answers again: events go through the stream');
      } catch {
        setTimeout(() => void probe(), RECONNECT_WAIT_MS * 2).unref();
      }
    };
    setTimeout(() => void probe(), RECONNECT_WAIT_MS * 2).unref();
  }

  /** Called when the direct path took an event NATS did not. */
  noteFallback(): void {
    this.fallbacks++;
  }

  /** Units acknowledged by the stream on this instance and not yet known to be in the ledger. */
  queuedUnits(customerId: string, meter: string, periodStart: Date): bigint {
    if (this.queuedByCounter.size === 0) return 0n;
    return this.queuedByCounter.get(counterKey(customerId, meter, periodStart)) ?? 0n;
  }

  private noteQueued(identity: string, event: LedgerEvent): void {
    if (this.settledEarly.delete(identity)) return;
    const counter = counterKey(event.customerId, event.meter, event.periodStart);
    const quantity = BigInt(event.quantity);
    this.queued.set(identity, { counter, quantity, at: Date.now() });
    this.queuedByCounter.set(counter, (this.queuedByCounter.get(counter) ?? 0n) + quantity);
  }

  private unqueue(identity: string): boolean {
    const entry = this.queued.get(identity);
    if (!entry) return false;
    this.queued.delete(identity);
    const left = (this.queuedByCounter.get(entry.counter) ?? 0n) - entry.quantity;
    if (left > 0n) this.queuedByCounter.set(entry.counter, left);
    else this.queuedByCounter.delete(entry.counter);
    return true;
  }

  private onSettled(news: SettledNews): void {
    if (news.counters.length > 0) this.onTotalsNews(news);
    for (const identity of news.identities) {
      if (this.unqueue(identity)) continue;
      this.settledEarly.add(identity);
      if (this.settledEarly.size > 10_000) this.settledEarly.delete(this.settledEarly.values().next().value!);
    }
  }

  private onTotalsNews(news: TotalsNews): void {
    this.onTotals(
      news.counters.map((counter) => ({
        customerId: counter.customerId,
        meter: counter.meter,
        periodStart: new Date(counter.periodStart),
        periodEnd: new Date(counter.periodEnd),
        delta: 0n,
        total: BigInt(counter.total),
      })),
    );
  }

  /** A settlement broadcast that never arrived (NATS away between commit and news): the ledger has it by now. */
  private expireQueued(): void {
    const before = Date.now() - QUEUED_EXPIRY_MS;
    for (const [identity, entry] of this.queued) if (entry.at < before) this.unqueue(identity);
  }

  private async pull(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const message of messages) {
        if (message.redelivered) this.redeliveredCount++;
        this.buffer.push(message);
        if (this.buffer.length >= MAX_BATCH) this.flushNow();
        else this.flushSoon();
      }
    } catch (error) {
      if (!this.stopped) this.logger.warn(`JetStream consumer stopped: ${(error as Error).message}`);
    }
  }

  /** Flush after this turn of the event loop (every message that arrived together shares a commit), or once a pause ends. */
  private flushSoon(): void {
    if (this.cancelScheduled) return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      const timer = setTimeout(() => this.flushNow(), wait);
      this.cancelScheduled = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(() => this.flushNow());
      this.cancelScheduled = () => clearImmediate(immediate);
    }
  }

  private flushNow(): void {
    this.cancelScheduled?.();
    this.cancelScheduled = null;
    if (this.pausedUntil > Date.now()) return this.flushSoon();
    while (this.buffer.length > 0 && this.commits.size < MAX_CONCURRENT_COMMITS) {
      const batch = this.buffer.splice(0, MAX_BATCH);
      const commit = this.commitBatch(batch).finally(() => {
        this.commits.delete(commit);
        if (this.buffer.length > 0) this.flushSoon();
      });
      this.commits.add(commit);
    }
  }

  /** One ledger write for a batch of messages; acknowledged only after commit, handed back if the database is away. */
  private async commitBatch(batch: JsMsg[]): Promise<void> {
    const events: LedgerEvent[] = [];
    const kept: JsMsg[] = [];
    for (const message of batch) {
      try {
        events.push(ledgerEventFromJson(message.string()));
        kept.push(message);
      } catch (error) {
        // Not an event Tollgate wrote: nothing to count, never redelivered.
        this.logger.error(`unreadable message ${message.seq} in ${this.settings.stream} dropped: ${(error as Error).message}`);
        message.term();
      }
    }
    let outcomes: StreamedOutcome[];
    let counters: CounterTotal[];
    try {
      ({ outcomes, counters } = await this.commit(events));
    } catch (error) {
      this.pausedUntil = Date.now() + RETRY_DELAY_MS;
      this.logger.warn(`${events.length} streamed events wait in the stream: ${(error as Error).message}`);
      for (const message of kept) message.nak(RETRY_DELAY_MS);
      return;
    }
    const settledByOrigin = new Map<string, string[]>();
    for (let index = 0; index < kept.length; index++) {
      const outcome = outcomes[index];
      const event = events[index];
      if (typeof outcome === 'object') {
        this.refusedCount++;
        this.logger.error(`streamed event ${event.idempotencyKey} of ${event.customerId} refused by the ledger: ${outcome.refused}`);
      }
      kept[index].ack();
      const origin = kept[index].headers?.get(HEADER_ORIGIN);
      if (origin) {
        const identity = eventIdentity(event.customerId, event.idempotencyKey);
        const list = settledByOrigin.get(origin);
        if (list) list.push(identity);
        else settledByOrigin.set(origin, [identity]);
      }
    }
    this.announce(settledByOrigin, counters);
  }

  /**
   * Tells every instance the new totals (their quota caches move now, not when they expire) and each publishing
   * instance which of its events are settled (its queued units go).
   */
  private announce(settledByOrigin: Map<string, string[]>, counters: CounterTotal[]): void {
    const connection = this.connection;
    if (!connection || connection.isClosed()) return;
    const totals = counters.map((counter) => ({
      customerId: counter.customerId,
      meter: counter.meter,
      periodStart: counter.periodStart.toISOString(),
      periodEnd: counter.periodEnd.toISOString(),
      total: counter.total.toString(),
    }));
    if (totals.length > 0) connection.publish(`${this.settings.stream}.totals`, JSON.stringify({ counters: totals } satisfies TotalsNews));
    for (const [origin, identities] of settledByOrigin) {
      // This instance's own events: its cache already has the totals (the ingestor's listeners ran at commit).
      if (origin === this.origin) this.onSettled({ identities, counters: [] });
      else connection.publish(`${this.settings.stream}.settled.${origin}`, JSON.stringify({ identities, counters: totals } satisfies SettledNews));
    }
  }

  /** Consumer lag and redeliveries, read from the server (null while NATS is away). */
  async status(): Promise<StreamStatus> {
    const base = { transport: 'jetstream' as const, connected: this.ready, fallbacks: this.fallbacks, refused: this.refusedCount, redelivered: this.redeliveredCount };
    const connection = this.connection;
    if (!this.ready || !connection) return { ...base, pending: null, ackPending: null };
    try {
      const manager = await connection.jetstreamManager({ timeout: 1_000 });
      const info = await manager.consumers.info(this.settings.stream, this.durable);
      return { ...base, pending: info.num_pending, ackPending: info.num_ack_pending };
    } catch {
      return { ...base, pending: null, ackPending: null };
    }
  }

  /** Stops pulling, lets the commits in flight finish (they ack), hands the rest back, and closes the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.ready = false;
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.messages?.stop();
    await Promise.allSettled([...this.commits]);
    for (const message of this.buffer.splice(0)) message.nak();
    for (const subscription of this.subscriptions) subscription.unsubscribe();
    await this.connection?.drain().catch(() => undefined);
  }
}

