import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { join } from 'node:path';
import { isDatabaseUnavailable } from '../common/database-errors.js';
import { TollgateConfig } from '../config/tollgate-config.js';
import { eventIdentity, type BatchResult, type CounterTotal, type LedgerEvent, UsageLedger } from './usage-ledger.js';
import { UsageSpool } from './usage-spool.js';

export type IngestStatus = 'accepted' | 'duplicate' | 'spooled';

interface Pending {
  event: LedgerEvent;
  resolve: (status: IngestStatus) => void;
  reject: (error: Error) => void;
}

/**
 * Flush when this many events wait, or right after the current turn of the event loop: every event queued in
 * that turn (the requests that arrived together) shares one commit, and a lone request waits for no timer.
 */
const MAX_BATCH = 1000;
// Few commits in flight: while one is being written, the next batch grows (bigger, cheaper commits).
const MAX_CONCURRENT_FLUSHES = 2;
const REPLAY_INTERVAL_MS = 1000;

type CountersListener = (counters: CounterTotal[]) => void;

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

  constructor(
    @Inject(UsageLedger) private readonly ledger: UsageLedger,
    @Inject(TollgateConfig) config: TollgateConfig,
  ) {
    this.spool = new UsageSpool(join(config.dataDir, 'spool'));
  }

  onApplicationBootstrap(): void {
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
    await this.replaying;
  }

  /** Called with the new totals of every committed batch (quota checks, alerts). */
  onCounters(listener: CountersListener): void {
    this.listeners.push(listener);
  }

  record(event: LedgerEvent): Promise<IngestStatus> {
    return new Promise<IngestStatus>((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      if (this.queue.length >= MAX_BATCH) this.flushNow();
      else this.flushSoon();
    });
  }

  recordMany(events: LedgerEvent[]): Promise<IngestStatus[]> {
    return Promise.all(events.map((event) => this.record(event)));
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

  private async write(batch: Pending[]): Promise<void> {
    // Two events with one idempotency key in one batch: the first one counts, the other is its duplicate.
    const unique = new Map<string, LedgerEvent>();
    for (const { event } of batch) {
      const identity = eventIdentity(event.customerId, event.idempotencyKey);
      if (!unique.has(identity)) unique.set(identity, event);
    }
    try {
      const result = await this.insertWithRetry([...unique.values()]);
      const claimed = new Set<string>();
      for (const pending of batch) {
        const identity = eventIdentity(pending.event.customerId, pending.event.idempotencyKey);
        const first = result.inserted.has(identity) && !claimed.has(identity);
        if (first) claimed.add(identity);
        pending.resolve(first ? 'accepted' : 'duplicate');
      }
      this.publish(result.counters);
    } catch (error) {
      if (!isDatabaseUnavailable(error)) {
        this.logger.error(`usage batch refused by the database: ${(error as Error).message}`);
        for (const pending of batch) pending.reject(error as Error);
        return;
      }
      await this.spoolBatch(batch, [...unique.values()], error as Error);
    }
  }

  private async spoolBatch(batch: Pending[], events: LedgerEvent[], cause: Error): Promise<void> {
    try {
      const name = await this.spool.write(events);
      this.logger.warn(`database unavailable (${cause.message}); ${events.length} events spooled to ${name}`);
      for (const pending of batch) pending.resolve('spooled');
    } catch (spoolError) {
      // Neither the database nor the disk took the events: the request must fail, not pretend.
      this.logger.error(`could not spool usage: ${(spoolError as Error).message}`);
      for (const pending of batch) pending.reject(spoolError as Error);
    }
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
    if (counters.length === 0) return;
    for (const listener of this.listeners) {
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
      try {
        const result = await this.insertWithRetry(events);
        await this.spool.remove(name);
        this.logger.log(`replayed ${name}: ${result.inserted.size} new, ${events.length - result.inserted.size} already recorded`);
        this.publish(result.counters);
      } catch (error) {
        if (isDatabaseUnavailable(error)) return; // still down: try again later, in order
        this.logger.error(`spool file ${name} refused by the database, kept aside: ${(error as Error).message}`);
        await this.spool.quarantine(name);
      }
    }
  }
}
