import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { LedgerEvent } from './usage-ledger.js';

interface SpooledEvent extends Omit<LedgerEvent, 'occurredAt' | 'periodStart' | 'periodEnd'> {
  occurredAt: string;
  periodStart: string;
  periodEnd: string;
}

/**
 * A local append-only spool for when the database is unreachable: each batch becomes one file, written
 * and fsync'd (file and directory) before its requests are answered. Replay inserts with the same
 * idempotency keys, so a batch replayed twice (a crash between insert and unlink) still counts once.
 */
export class UsageSpool {
  private readonly failedDir: string;

  constructor(private readonly dir: string) {
    this.failedDir = join(dir, 'failed');
    mkdirSync(this.failedDir, { recursive: true });
  }

  async write(events: LedgerEvent[]): Promise<string> {
    const name = `${Date.now().toString().padStart(15, '0')}-${randomBytes(4).toString('hex')}.jsonl`;
    const temporary = join(this.dir, `.${name}.tmp`);
    const body = events.map((event) => JSON.stringify(event)).join('\n') + '\n';
    const file = await open(temporary, 'w');
    try {
      await file.writeFile(body);
      await file.sync();
    } finally {
      await file.close();
    }
    // Rename makes the batch appear whole or not at all; syncing the directory makes the rename durable.
    await rename(temporary, join(this.dir, name));
    const directory = await open(this.dir, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
    return name;
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
      .map((line) => {
        const event = JSON.parse(line) as SpooledEvent;
        return { ...event, occurredAt: new Date(event.occurredAt), periodStart: new Date(event.periodStart), periodEnd: new Date(event.periodEnd) };
      });
  }

  async remove(name: string): Promise<void> {
    await unlink(join(this.dir, name));
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
    await rename(join(this.dir, name), join(this.failedDir, name));
  }
}
