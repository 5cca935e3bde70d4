/**
 * Bounds every step of a run (server start, one load run, cleanup): each step re-arms the watchdog with its own
 * budget, and when one overruns, `onExpire` is called with the step's description.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly onExpire: (step: string) => void) {}

  arm(seconds: number, step: string): void {
    this.disarm();
    this.timer = setTimeout(() => this.onExpire(`${step} took longer than ${seconds} s`), seconds * 1000);
  }

  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
