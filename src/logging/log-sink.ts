import { Inject } from '@nestjs/common';

/** Where JSON log lines go: stdout by default; tests plug in a collector to assert on them. */
export interface LogSink {
  write(line: string): void;
}
export const LogSink = Symbol('LogSink');
export const InjectLogSink = () => Inject(LogSink);

export class StdoutLogSink implements LogSink {
  write(line: string): void {
    process.stdout.write(line);
  }
}

/** Keeps lines in memory (tests). */
export class MemoryLogSink implements LogSink {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
  get text(): string {
    return this.lines.join('');
  }
}
