import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type LedgerEvent, ledgerEventFromJson } from './usage-ledger.js';

/** The spool took nothing: it would pass its size cap, or the disk refused the write (full, read-only). */
export class SpoolWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpoolWriteError';
  }
}

/** A batch being written: `.<name>.tmp` until it is complete and synced. */
const TEMPORARY = /^\..+\.jsonl\.tmp$/;

/**
 * A local append-only spool for when the database is unreachable: each batch becomes one file, written
 * and fsync'd (file and directory) before its requests are answered. Replay inserts with the same
 * idempotency keys, so a batch replayed twice (a crash between insert and unlink) still counts once.
 */
export class UsageSpool {
  private readonly failedDir: string;
  /** Bytes of the batches waiting for replay (or being written): what the cap is checked against. */
  private bytes = 0;

  /**
   * A spool directory belongs to one process. At start, batches left half-written by a crash (`.tmp` files: never
   * renamed, so never acknowledged) are removed, and the batches waiting for replay are counted against the cap.
   */
  constructor(
    private readonly dir: string,
    private readonly maxBytes = Number.POSITIVE_INFINITY,
  ) {
    this.failedDir = join(dir, 'failed');
    mkdirSync(this.failedDir, { recursive: true });
    for (const name of readdirSync(dir)) {
      if (TEMPORARY.test(name)) unlinkSync(join(dir, name));
      else if (name.endsWith('.jsonl')) this.bytes += statSync(join(dir, name)).size;
    }
  }

  /** Bytes waiting for replay. */
  get size(): number {
    return this.bytes;
  }

  /** Writes one batch durably, or throws SpoolWriteError having kept nothing. */
  async write(events: LedgerEvent[]): Promise<string> {
    const name = `${Date.now().toString().padStart(15, '0')}-${randomBytes(4).toString('hex')}.jsonl`;
    const temporary = join(this.dir, `.${name}.tmp`);
    const body = events.map((event) => JSON.stringify(event)).join('\n') + '\n';
    const size = Buffer.byteLength(body);
    if (this.bytes + size > this.maxBytes) {
      throw new SpoolWriteError(`the spool holds ${this.bytes} bytes; ${size} more would pass its cap of ${this.maxBytes} (TOLLGATE_SPOOL_MAX_BYTES)`);
    }
    // Reserved before the first await: concurrent batches cannot all take the last space.
    this.bytes += size;
    let renamed = false;
    try {
      const file = await open(temporary, 'w');
      try {
        await file.writeFile(body);
        await file.sync();
      } finally {
        await file.close();
      }
      // Rename makes the batch appear whole or not at all; syncing the directory makes the rename durable.
      await rename(temporary, join(this.dir, name));
      renamed = true;
      const directory = await open(this.dir, 'r');
      try {
        await directory.sync();
      } finally {
        await directory.close();
      }
      return name;
    } catch (error) {
      // Not durable, so not acknowledged: nothing of it may stay behind to be replayed (or to hold space).
      this.bytes -= size;
      await unlink(join(this.dir, renamed ? name : `.${name}.tmp`)).catch(() => undefined);
      throw new SpoolWriteError(`the spool could not be written: ${(error as Error).message}`);
    }
  }

  /** Spooled batches, oldest first. */
  async pending(): Promise<string[]> {
    return (await readdir(this.dir)).filter((name) => name.endsWith('.jsonl')).sort();
  }

  async read(name: string): Promise<LedgerEvent[]> {
    const text = await readFile(join(this.dir, name), 'utf8');
    return text
      .split('\n')
      .filter((line) => line.length > 0)
      .map(ledgerEventFromJson);
  }

  async remove(name: string): Promise<void> {
    const size = await this.sizeOf(name);
    await unlink(join(this.dir, name));
    this.release(size);
  }

  private async sizeOf(name: string): Promise<number> {
    return (await stat(join(this.dir, name)).catch(() => null))?.size ?? 0;
  }

  private release(size: number): void {
    this.bytes = Math.max(0, this.bytes - size);
  }

  /**
   * Events the ledger refused on replay, each with its reason, kept in `failed/` (never dropped) so an operator
   * can see and fix them; the rest of their batch went in. Returns the file's name.
   */
  async keepAside(name: string, refused: Array<{ event: LedgerEvent; refusal: { reason: string; message: string } }>): Promise<string> {
    const aside = name.replace(/\.jsonl$/, '.refused.jsonl');
    const body = refused.map(({ event, refusal }) => JSON.stringify({ ...event, refused: refusal })).join('\n') + '\n';
    const file = await open(join(this.failedDir, aside), 'a');
    try {
      await file.writeFile(body);
      await file.sync();
    } finally {
      await file.close();
    }
    return aside;
  }

  /** A batch that cannot be read (or replayed at all) is kept aside whole, never dropped. */
  async quarantine(name: string): Promise<void> {
    const size = await this.sizeOf(name);
    await rename(join(this.dir, name), join(this.failedDir, name));
    this.release(size);
  }
}
