import type { Server } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

const IDLE_SWEEP_MS = 50;
const MAX_DRAIN_MS = 25_000;

/**
 * Graceful shutdown for HTTP: from SIGTERM on, readiness answers 503 (the load balancer stops sending),
 * every response closes its connection, and idle keep-alive connections are closed as they appear, so
 * in-flight requests finish and the server closes without waiting for clients' keep-alive timeouts.
 */
@Injectable()
export class HttpDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Shutdown');
  draining = false;

  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  beforeApplicationShutdown(signal?: string): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    this.draining = true;
    if (signal) this.logger.log(`${signal} received: draining in-flight requests`);
    if (!server?.listening) return;
    server.on('request', (_req, res) => {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    });
    const started = Date.now();
    const sweep = setInterval(() => {
      server.closeIdleConnections();
      if (Date.now() - started > MAX_DRAIN_MS) {
        this.logger.warn('drain timed out: closing remaining connections');
        server.closeAllConnections();
      }
    }, IDLE_SWEEP_MS);
    sweep.unref();
    server.once('close', () => clearInterval(sweep));
  }
}
