import { Injectable } from '@nestjs/common';

const MINUTE_MS = 60_000;
const MINUTES = 60;

/**
 * 429 answers of this instance in the last hour, for the operator console: one slot per minute in a ring of 60
 * (fixed memory, no per-request allocation). Prometheus' histogram keeps totals since start, not a window;
 * this is its per-hour view, fed from the same place (the response's status on finish). Per instance.
 */
@Injectable()
export class RefusalWindow {
  private readonly counts = new Array<number>(MINUTES).fill(0);
  private readonly minutes = new Array<number>(MINUTES).fill(-1);

  record(now = Date.now()): void {
    const minute = Math.floor(now / MINUTE_MS);
    const slot = minute % MINUTES;
    if (this.minutes[slot] !== minute) {
      this.minutes[slot] = minute;
      this.counts[slot] = 0;
    }
    this.counts[slot]++;
  }

  /** 429s answered in the last 60 minutes (the current minute included). */
  lastHour(now = Date.now()): number {
    const minute = Math.floor(now / MINUTE_MS);
    let total = 0;
    for (let slot = 0; slot < MINUTES; slot++) if (minute - this.minutes[slot] < MINUTES) total += this.counts[slot];
    return total;
  }
}
