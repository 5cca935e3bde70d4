import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { join } from 'node:path';
import { findTextProblem, textProblem } from '../common/index.js';
import { isDatabaseUnavailable } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { eventIdentity, type BatchResult, type CounterTotal, type LedgerEvent, UsageLedger, type UsageRefusal } from './usage-ledger.js';
import { JetStreamTransport, type StreamedBatch, type StreamedOutcome, type StreamStatus } from './jetstream-transport.js';
import { UsageSpool } from './usage-spool.js';

export type IngestStatus = 'accepted' | 'duplicate' | 'spooled';

/** One event refused on its own (too large, its counter at its cap, or refused by the database); the rest went on. */
export class UsageRejectedError extends Error {
  constructor(
    readonly reason: UsageRefusal['reason'],
    message: string,
  ) {
    super(message);
    this.name = 'UsageRejectedError';
  }
}

/**
 * Neither the database nor the local spool took the event (the database is unreachable and the spool is full or
 * not writable): it is not recorded, so its request must not be answered as served. Temporary: retry later.
 */
export class UsageUnavailableError extends Error {
  /** What to tell the client: the spool is replayed (and frees space) once the database is back. */
  readonly retryAfterSeconds = 5;

  constructor(message: string) {
    super(message);
    this.name = 'UsageUnavailableError';
  }
}

const WARN_EVERY_MS = 10_000;

type Outcome = IngestStatus | UsageRejectedError;

/**
 * The caller of one `record` or `recordMany`: one promise for all its events (not one per event), settled
 * when the last of them is. Refusals of single events are outcomes for `recordMany`, errors for `record`.
 */
class Waiter {
  readonly outcomes: Outcome[];
  private remaining: number;
  private done = false;

  constructor(
    count: number,
    private readonly refusalsAreOutcomes: boolean,
    private readonly onDone: (outcomes: Outcome[]) => void,
    private readonly onError: (error: Error) => void,
  ) {
    this.outcomes = new Array<Outcome>(count);
    this.remaining = count;
  }

  resolve(slot: number, outcome: Outcome): void {
    if (this.done) return;
    this.outcomes[slot] = outcome;
    if (--this.remaining === 0) {
      this.done = true;
      this.onDone(this.outcomes);
    }
  }

  reject(slot: number, error: Error): void {
    if (this.refusalsAreOutcomes && error instanceof UsageRejectedError) return this.resolve(slot, error);
    if (this.done) return;
    this.done = true;
    this.onError(error);
  }
}

/** One queued event: its identity (customer + key) worked out once, and where its outcome goes. */
interface Pending {
  event: LedgerEvent;
  identity: string;
  waiter: Waiter;
  slot: number;
  /** Later events of the same batch with the same identity: answered as its duplicates. */
  repeats?: Pending[];
}

const answer = (pending: Pending, status: IngestStatus) => pending.waiter.resolve(pending.slot, status);
const fail = (pending: Pending, error: Error) => pending.waiter.reject(pending.slot, error);

/**
 * Flush when this many events wait, or right after the current turn of the event loop: every event queued in
 * that turn (the requests that arrived together) shares one commit, and a lone request waits for no timer.
 */
const MAX_BATCH = 1000;
// Few commits in flight: while one is being written, the next batch grows (bigger, cheaper commits).
const MAX_CONCURRENT_FLUSHES = 2;
const REPLAY_INTERVAL_MS = 1000;

type CountersListener = (counters: CounterTotal[]) => void;

/** How events reach the ledger now, for `/health/ready` and `/metrics`. */
export type IngestTransportStatus = { transport: 'direct' } | StreamStatus;

/**
 * Group commit: events from many requests are appended to the ledger by one multi-row statement, flushed
 * every few milliseconds or every MAX_BATCH events. A caller's promise settles when its event is durable:
 * in the database, or — if the database is unreachable — in the fsync'd local spool, replayed later.
 */
@Injectable()
export class UsageIngestor implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('UsageIngestor');
  private readonly spool: UsageSpool;
  private queue: Pending[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private readonly inFlight = new Set<Promise<void>>();
  private replayTimer: NodeJS.Timeout | null = null;
  private replaying: Promise<void> | null = null;
  private readonly listeners: CountersListener[] = [];
  private readonly totalsListeners: CountersListener[] = [];
  /** The JetStream transport, when configured; events take the direct path while it is unavailable. */
  private readonly stream: JetStreamTransport | null = null;
  private readonly maxEventQuantity: number;
  private lastSpoolWarning = 0;
  private lastStreamWarning = 0;

  constructor(
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(TollgateConfig) config: TollgateConfig,
  ) {
    this.spool = new UsageSpool(join(config.dataDir, 'spool'), config.spoolMaxBytes);
    this.maxEventQuantity = config.maxEventQuantity;
    if (config.ingestTransport === 'jetstream' && config.natsUrl) {
      this.stream = new JetStreamTransport(
        { natsUrl: config.natsUrl, stream: config.natsStream, replicas: config.natsReplicas, duplicateWindowMs: config.natsDuplicateWindowMs },
        (events) => this.commitStreamed(events),
        (counters) => this.publishTotals(counters),
      );
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.stream?.start();
    void this.replaySpool();
    this.replayTimer = setInterval(() => void this.replaySpool(), REPLAY_INTERVAL_MS);
    this.replayTimer.unref();
  }

  /** SIGTERM: replays stop; requests still being served keep queueing and flushing as usual. */
  beforeApplicationShutdown(): void {
    if (this.replayTimer) clearInterval(this.replayTimer);
  }

  /**
   * Everything queued is written (or spooled) before the process exits. This runs after Nest has closed
   * the HTTP server, so no request can queue an event behind the drain (a drain in beforeApplicationShutdown
   * lost `async`-mode events answered after it, and never ended under steady traffic), and before the
   * database closes: the database modules are global, and Nest shuts global modules down last.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.drain();
    // The consumer's commits in flight finish and acknowledge; what it holds beyond them goes back to the stream.
    await this.stream?.stop();
    await this.replaying;
  }

  /** Called with the new totals of every batch committed by this instance (quota checks, alerts). */
  onCounters(listener: CountersListener): void {
    this.listeners.push(listener);
  }

  /**
   * Called with totals another instance committed from the shared stream (jetstream transport): for caches only,
   * its alerts are raised by the instance that committed.
   */
  onTotalsElsewhere(listener: CountersListener): void {
    this.totalsListeners.push(listener);
  }

  /**
   * Units this instance had acknowledged through the stream that are not known to be in the ledger yet: a quota
   * adds them to the committed total, so a request served moments ago is never forgotten. 0 on the direct path.
   */
  queuedUnits(customerId: string, meter: string, periodStart: Date): bigint {
    return this.stream ? this.stream.queuedUnits(customerId, meter, periodStart) : 0n;
  }

  /** The transport in use and, for JetStream, its connection, consumer lag and redeliveries. */
  transportStatus(): Promise<IngestTransportStatus> {
    return this.stream ? this.stream.status() : Promise.resolve({ transport: 'direct' });
  }

  record(event: LedgerEvent): Promise<IngestStatus> {
    return new Promise<IngestStatus>((resolve, reject) => {
      this.enqueue(event, new Waiter(1, false, (outcomes) => resolve(outcomes[0] as IngestStatus), reject), 0);
    });
  }

  /** One outcome per event, in order: its status, or the refusal of that event alone (the others still count). */
  recordMany(events: LedgerEvent[]): Promise<Outcome[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise<Outcome[]>((resolve, reject) => {
      const waiter = new Waiter(events.length, true, resolve, reject);
      for (let slot = 0; slot < events.length; slot++) this.enqueue(events[slot], waiter, slot);
    });
  }

  private enqueue(event: LedgerEvent, waiter: Waiter, slot: number): void {
    const pending: Pending = { event, identity: eventIdentity(event.customerId, event.idempotencyKey), waiter, slot };
    if (this.stream?.available) return this.publishToStream(this.stream, pending);
    // NATS away (not yet connected, or disconnected): a fallback too, not only a publish that failed.
    this.stream?.noteFallback();
    this.enqueueDirect(pending);
  }

  private enqueueDirect(pending: Pending): void {
    this.queue.push(pending);
    if (this.queue.length >= MAX_BATCH) this.flushNow();
    else this.flushSoon();
  }

  /**
   * The event's durable answer is the stream's publish ack. An event that can never be a ledger row is refused
   * here, as on the direct path (once acknowledged, nobody could be told). NATS not answering: the direct path.
   */
  private publishToStream(stream: JetStreamTransport, pending: Pending): void {
    const refusal = this.refusalOf(pending.event);
    if (refusal) return fail(pending, new UsageRejectedError(refusal.reason, refusal.message));
    stream.publish(pending.event, pending.identity).then(
      (status) => answer(pending, status),
      (error: Error) => {
        stream.noteFallback();
        if (Date.now() - this.lastStreamWarning > WARN_EVERY_MS) {
          this.lastStreamWarning = Date.now();
          this.logger.warn(`JetStream did not take an event (${error.message}): the direct path takes it`);
        }
        // Had it landed after all, the ledger's idempotency key keeps it counted once.
        this.enqueueDirect(pending);
      },
    );
  }

  /**
   * The consumer side: a batch from the stream, through the same checks and the same idempotent statement as the
   * direct path. Throws when the database is away (the batch stays in the stream and comes back).
   */
  private async commitStreamed(events: LedgerEvent[]): Promise<StreamedBatch> {
    const counters: CounterTotal[] = [];
    const outcomes = new Array<StreamedOutcome>(events.length);
    const slotOf = new Map<LedgerEvent, number>();
    const firstByIdentity = new Set<string>();
    const valid: LedgerEvent[] = [];
    // Served and acknowledged, yet refused (a counter at its cap): kept for the operator below, never lost.
    const refused: Array<{ event: LedgerEvent; refusal: UsageRefusal }> = [];
    for (let slot = 0; slot < events.length; slot++) {
      const event = events[slot];
      const identity = eventIdentity(event.customerId, event.idempotencyKey);
      // A redelivery next to its first delivery in one batch: counted once.
      if (firstByIdentity.has(identity)) {
        outcomes[slot] = 'duplicate';
        continue;
      }
      firstByIdentity.add(identity);
      const refusal = this.refusalOf(event);
      if (refusal) {
        outcomes[slot] = { refused: refusal.message };
        refused.push({ event, refusal });
      } else {
        valid.push(event);
        slotOf.set(event, slot);
      }
    }
    await this.insertIsolating(valid, (committed, result) => {
      for (const event of committed) {
        const identity = eventIdentity(event.customerId, event.idempotencyKey);
        const refusal = result.refused.get(identity);
        if (refusal) refused.push({ event, refusal });
        outcomes[slotOf.get(event)!] = refusal ? { refused: refusal.message } : result.inserted.has(identity) ? 'inserted' : 'duplicate';
      }
      this.publish(result.counters);
      counters.push(...result.counters);
    });
    if (refused.length > 0) await this.spool.keepAside(`stream-${Date.now()}.jsonl`, refused);
    return { outcomes, counters };
  }

  private publishTotals(counters: CounterTotal[]): void {
    this.notify(this.totalsListeners, counters);
  }

  /** Writes everything queued now and waits for every write in flight. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight.size > 0) {
      if (this.queue.length > 0) this.flushNow();
      await Promise.allSettled([...this.inFlight]);
    }
  }

  async pendingSpoolFiles(): Promise<number> {
    return (await this.spool.pending()).length;
  }

  private flushSoon(): void {
    this.scheduled ??= setImmediate(() => this.flushNow());
  }

  private flushNow(): void {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    while (this.queue.length > 0 && this.inFlight.size < MAX_CONCURRENT_FLUSHES) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const flight = this.write(batch).finally(() => {
        this.inFlight.delete(flight);
        if (this.queue.length > 0) this.flushSoon();
      });
      this.inFlight.add(flight);
    }
  }

  /**
   * Writes one batch. Events that cannot be valid ledger rows are refused up front, on their own; the others go
   * in together, and each caller is answered as soon as the statement holding its event has committed.
   */
  private async write(batch: Pending[]): Promise<void> {
    // Two events with one idempotency key in one batch: the first one counts, the other is its duplicate.
    const firstByIdentity = new Map<string, Pending>();
    const firstOf = new Map<LedgerEvent, Pending>();
    const events: LedgerEvent[] = [];
    const refused: Array<{ pending: Pending; refusal: UsageRefusal }> = [];
    for (const pending of batch) {
      const first = firstByIdentity.get(pending.identity);
      if (first) {
        (first.repeats ??= []).push(pending);
        continue;
      }
      firstByIdentity.set(pending.identity, pending);
      const refusal = this.refusalOf(pending.event);
      if (refusal) refused.push({ pending, refusal });
      else {
        events.push(pending.event);
        firstOf.set(pending.event, pending);
      }
    }
    for (const { pending, refusal } of refused) refuse(pending, refusal);

    let settled = 0;
    try {
      await this.insertIsolating(events, (committed, result) => {
        settled += committed.length;
        for (const event of committed) answerCommitted(firstOf.get(event)!, result);
        this.publish(result.counters);
      });
    } catch (error) {
      // Halves are committed in order, so what is not settled is the tail of `events`.
      const unsettled = events.slice(settled);
      const waiting = unsettled.flatMap((event) => {
        const first = firstOf.get(event)!;
        return first.repeats ? [first, ...first.repeats] : [first];
      });
      if (!unavailable(error)) {
        this.logger.error(`usage batch refused by the database: ${(error as Error).message}`);
        for (const pending of waiting) fail(pending, error as Error);
        return;
      }
      await this.spoolBatch(waiting, unsettled, error as Error);
    }
  }

  /**
   * Why an event can never be a ledger row, checked before it joins a statement shared with other customers'
   * events: a quantity out of range, or text Postgres cannot store (NUL, lone UTF-16 surrogates).
   */
  private refusalOf(event: LedgerEvent): UsageRefusal | null {
    const { quantity } = event;
    if (!Number.isSafeInteger(quantity) || quantity < 0 || quantity > this.maxEventQuantity) {
      return {
        reason: 'quantity_limit',
        message: `quantity must be a whole number from 0 to ${this.maxEventQuantity} (TOLLGATE_MAX_EVENT_QUANTITY), got ${quantity}`,
      };
    }
    if (textProblem(event.customerId) || textProblem(event.meter) || textProblem(event.idempotencyKey) || (event.properties !== null && findTextProblem(event.properties))) {
      return { reason: 'refused', message: 'the event holds text that cannot be stored (NUL or a lone UTF-16 surrogate)' };
    }
    if (Number.isNaN(event.occurredAt.getTime()) || Number.isNaN(event.periodStart.getTime()) || Number.isNaN(event.periodEnd.getTime())) {
      return { reason: 'refused', message: 'the event has an invalid date' };
    }
    return null;
  }

  private async spoolBatch(batch: Pending[], events: LedgerEvent[], cause: Error): Promise<void> {
    try {
      const name = await this.spool.write(events);
      this.logger.warn(`database unavailable (${cause.message}); ${events.length} events spooled to ${name}`);
      for (const pending of batch) answer(pending, 'spooled');
    } catch (spoolError) {
      // Neither the database nor the disk took the events: the request must fail (503, retry), not pretend.
      if (Date.now() - this.lastSpoolWarning > WARN_EVERY_MS) {
        this.lastSpoolWarning = Date.now();
        this.logger.error(`database unavailable (${cause.message}) and usage cannot be spooled: ${(spoolError as Error).message}; refusing metered requests`);
      }
      const error = new UsageUnavailableError(`usage cannot be recorded: the database is unavailable and ${(spoolError as Error).message}`);
      for (const pending of batch) fail(pending, error);
    }
  }

  /**
   * Inserts `events`, calling `committed` for each statement that commits. A statement the database refuses for
   * a reason other than being unreachable is split in halves and each retried, down to the event at fault,
   * which alone is refused: one customer's bad row never fails the other customers' rows sharing its batch.
   * Innocent halves are committed (and their callers answered) as the search goes on.
   */
  private async insertIsolating(events: LedgerEvent[], committed: (events: LedgerEvent[], result: BatchResult) => void): Promise<void> {
    if (events.length === 0) return;
    let result: BatchResult;
    try {
      result = await this.insertWithRetry(events);
    } catch (error) {
      if (unavailable(error)) throw error;
      if (events.length === 1) {
        const [event] = events;
        const refusal = refusalFromDatabase(error as Error);
        this.logger.warn(`usage event ${event.idempotencyKey} of ${event.customerId} refused on its own: ${refusal.message}`);
        committed(events, { inserted: new Set(), counters: [], refused: new Map([[eventIdentity(event.customerId, event.idempotencyKey), refusal]]) });
        return;
      }
      const middle = Math.ceil(events.length / 2);
      await this.insertIsolating(events.slice(0, middle), committed);
      await this.insertIsolating(events.slice(middle), committed);
      return;
    }
    committed(events, result);
  }

  /** Deadlocks and serialization failures between concurrent batches are retried. */
  private async insertWithRetry(events: LedgerEvent[]): Promise<BatchResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.ledger.insertBatch(events);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if ((code === '40P01' || code === '40001') && attempt < 5) continue;
        throw error;
      }
    }
  }

  private publish(counters: CounterTotal[]): void {
    if (counters.length > 0) this.notify(this.listeners, counters);
  }

  /** A failing listener is logged; the others still hear. */
  private notify(listeners: CountersListener[], counters: CounterTotal[]): void {
    for (const listener of listeners) {
      try {
        listener(counters);
      } catch (error) {
        this.logger.error(`counter listener failed: ${(error as Error).message}`);
      }
    }
  }

  private replaySpool(): Promise<void> {
    if (!this.replaying) {
      this.replaying = this.replayAll().finally(() => (this.replaying = null));
    }
    return this.replaying;
  }

  private async replayAll(): Promise<void> {
    for (const name of await this.spool.pending()) {
      let events: LedgerEvent[];
      try {
        events = await this.spool.read(name);
      } catch (error) {
        this.logger.error(`spool file ${name} is unreadable, kept aside: ${(error as Error).message}`);
        await this.spool.quarantine(name);
        continue;
      }
      // The same checks and the same split as live batches: a bad event is kept aside alone, never the file.
      const refused: Array<{ event: LedgerEvent; refusal: UsageRefusal }> = [];
      const valid: LedgerEvent[] = [];
      for (const event of events) {
        const refusal = this.refusalOf(event);
        if (refusal) refused.push({ event, refusal });
        else valid.push(event);
      }
      let inserted = 0;
      try {
        await this.insertIsolating(valid, (committed, result) => {
          inserted += result.inserted.size;
          for (const event of committed) {
            const refusal = result.refused.get(eventIdentity(event.customerId, event.idempotencyKey));
            if (refusal) refused.push({ event, refusal });
          }
          this.publish(result.counters);
        });
      } catch (error) {
        if (unavailable(error)) return; // still down: try again later, in order (what went in stays in, once)
        this.logger.error(`spool file ${name} refused by the database, kept aside: ${(error as Error).message}`);
        await this.spool.quarantine(name);
        continue;
      }
      if (refused.length > 0) {
        const aside = await this.spool.keepAside(name, refused);
        this.logger.error(`replaying ${name}: ${refused.length} events refused, kept aside in ${aside}: ${refused[0].refusal.message}`);
      }
      await this.spool.remove(name);
      this.logger.log(`replayed ${name}: ${inserted} new, ${events.length - inserted - refused.length} already recorded, ${refused.length} refused`);
    }
  }
}

/** A caller whose event can never be a ledger row, and its duplicates in the batch: refused with the reason. */
function refuse(first: Pending, refusal: UsageRefusal): void {
  fail(first, new UsageRejectedError(refusal.reason, refusal.message));
  for (const pending of first.repeats ?? []) fail(pending, new UsageRejectedError(refusal.reason, refusal.message));
}

/** Answers the callers of a committed event: accepted, duplicate, or refused by the database on its own. */
function answerCommitted(first: Pending, result: BatchResult): void {
  const refusal = result.refused.size > 0 ? result.refused.get(first.identity) : undefined;
  if (refusal) return refuse(first, refusal);
  answer(first, result.inserted.has(first.identity) ? 'accepted' : 'duplicate');
  for (const pending of first.repeats ?? []) answer(pending, 'duplicate');
}

/**
 * The database is away (spool, retry later) — unless it refused the statement for the rows it holds (data,
 * constraints, the counter cap), which no retry fixes, whatever its message says.
 */
function unavailable(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code ?? '';
  return !(code === 'TGCAP' || /^(22|23)/.test(code)) && isDatabaseUnavailable(error);
}

/** What to tell the reporter of a single event the database refused. */
function refusalFromDatabase(error: Error): UsageRefusal {
  const code = (error as { code?: string }).code;
  if (code === 'TGCAP') return { reason: 'counter_limit', message: error.message.replace(/^counter_limit: /, '') };
  if (code === '22003') return { reason: 'quantity_limit', message: `a quantity is out of range: ${error.message}` };
  if (code === '23503') return { reason: 'refused', message: 'the customer does not exist' };
  return { reason: 'refused', message: `the database refused the event: ${error.message}` };
}
