import { connect, type Socket } from 'node:net';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestApp, type TestApp } from '../support/test-app.js';
import { sleep } from '../support/wait.js';

const BURST = 1000;

/**
 * A burst of new connections while the event loop is busy (the 1 000-concurrent exactness test, a load balancer
 * reconnecting): the kernel holds them until the process accepts. With Node's default backlog (511) the rest were
 * dropped: their clients waited for SYN retransmissions, and under a long stall Linux pruned them and answered
 * their requests with resets (`fetch failed … ECONNRESET`). At the product's backlog the whole burst is queued.
 */
describe('a burst of connections while the event loop is busy', () => {
  let database: TestDatabase;
  let service: TestApp;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await service?.close();
    await database?.dispose();
  });

  it(`queues all ${BURST} of them at once, none left to SYN retransmissions`, async () => {
    const port = Number(new URL(service.url).port);
    let connected = 0;
    const errors: string[] = [];
    for (let i = 0; i < BURST; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('connect', () => connected++).on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message));
      sockets.push(socket);
    }
    // Busy, as the process is while it serves a burst: nothing is accepted, the kernel alone answers handshakes.
    const busyUntil = Date.now() + 300;
    while (Date.now() < busyUntil);
    // Well before the first SYN retransmission (1 s): only connections the kernel queued are connected by now.
    await sleep(500);
    expect({ connected, errors }).toEqual({ connected: BURST, errors: [] });
  });
});
