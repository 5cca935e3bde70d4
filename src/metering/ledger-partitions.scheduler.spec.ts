import { jest } from '@jest/globals';
import { LedgerPartitionsScheduler } from './ledger-partitions.scheduler.js';
import type { LedgerPartitions, MaintenanceReport } from './ledger-partitions.service.js';

describe('LedgerPartitionsScheduler', () => {
  afterEach(() => jest.useRealTimers());

  it('runs the maintenance at start and every 6 hours, never two runs at once, and waits for a run on shutdown', async () => {
    jest.useFakeTimers();
    const finish: Array<() => void> = [];
    const maintain = jest.fn(
      () => new Promise<MaintenanceReport>((resolve) => finish.push(() => resolve({ ran: true, created: [], inDefault: [], archived: [] }))),
    );
    const scheduler = new LedgerPartitionsScheduler({ maintain } as unknown as LedgerPartitions);

    scheduler.onApplicationBootstrap();
    expect(maintain).toHaveBeenCalledTimes(1);
    // Still running 6 hours later (a huge export): no second run beside it.
    jest.advanceTimersByTime(6 * 3_600_000);
    expect(maintain).toHaveBeenCalledTimes(1);
    finish.shift()!();
    await Promise.resolve();
    await Promise.resolve();
    jest.advanceTimersByTime(6 * 3_600_000);
    expect(maintain).toHaveBeenCalledTimes(2);

    let stopped = false;
    const stopping = scheduler.beforeApplicationShutdown().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    finish.shift()!();
    await stopping;
    // No more runs after shutdown.
    jest.advanceTimersByTime(24 * 3_600_000);
    expect(maintain).toHaveBeenCalledTimes(2);
  });
});
