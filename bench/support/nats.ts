// NATS JetStream for the jetstream ingest transport's bench rows: a private nats-server (its CPU is then the run's
// alone), or a fresh stream on a shared one (NATS_URL), and "has the consumer caught up?" for a run's settle step.
import { connect, type NatsConnection } from 'nats';

// The tests' private nats-server (JetStream on a temporary store, removed by stop()).
export { type PrivateNats, startPrivateNats } from '../../test/support/nats-server.js';

async function withNats<T>(url: string, work: (connection: NatsConnection) => Promise<T>): Promise<T> {
  const connection = await connect({ servers: url.split(','), timeout: 3000, reconnect: false });
  try {
    return await work(connection);
  } finally {
    await connection.close();
  }
}

/** Removes a stream the run made on a shared NATS (absent already: fine). */
export function deleteStream(url: string, stream: string): Promise<void> {
  return withNats(url, async (connection) => {
    const manager = await connection.jetstreamManager();
    try {
      await manager.streams.delete(stream);
    } catch (error) {
      if (!/stream not found/i.test((error as Error).message)) throw error;
    }
  });
}

/**
 * Waits until a transport's stream is empty and resolves with how long that took: its retention is a work queue, so
 * a message leaves it once the consumer has committed it to the ledger and acknowledged it.
 */
export function waitForEmptyStream(url: string, stream: string, timeoutMs: number): Promise<number> {
  return withNats(url, async (connection) => {
    const manager = await connection.jetstreamManager();
    const started = performance.now();
    for (;;) {
      const info = await manager.streams.info(stream);
      if (info.state.messages === 0) return performance.now() - started;
      if (performance.now() - started > timeoutMs) {
        throw new Error(`stream ${stream} still holds ${info.state.messages} messages after ${timeoutMs} ms: its consumer is stuck or far behind`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
}
