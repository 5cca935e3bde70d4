import type { Server } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TollgateConfig } from '../config/index.js';

const SWEEP_MS = 50;
const MAX_DRAIN_MS = 25_000;

/**
 * Graceful shutdown for HTTP. From SIGTERM on, readiness answers 503 (the load balancer stops sending) and every
 * response carries `Connection: close`. For up to HTTP_SHUTDOWN_GRACE_MS the server keeps listening and keeps its
 * idle keep-alive connections open: a request a client (or balancer) sends on one gets a complete answer and then
 * the connection closes — closing idle connections at once would race those requests, and their clients would see
 * resets. The grace ends early when no connection is left. Then the server closes: in-flight requests finish,
 * idle connections are closed, and whatever is still open after MAX_DRAIN_MS is cut.
 *
 * `app.close()` without a signal (a host app or a test closing on purpose) skips the grace.
 */
@Injectable()
export class HttpDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Shutdown');
  draining = false;

  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    this.draining = true;
    if (signal) this.logger.log(`${signal} received: draining in-flight requests`);
    if (!server?.listening) return;
    server.on('request', (_req, res) => {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    });
    const started = Date.now();
    if (signal && this.config.httpShutdownGraceMs > 0) await this.grace(server, started);

    const sweep = setInterval(() => {
      server.closeIdleConnections();
      if (Date.now() - started > MAX_DRAIN_MS) {
        this.logger.warn('drain timed out: closing remaining connections');
        server.closeAllConnections();
      }
    }, SWEEP_MS);
    sweep.unref();
    server.once('close', () => clearInterval(sweep));
  }

  /** Serves on until every connection has closed or the grace period is over. */
  private async grace(server: Server, started: number): Promise<void> {
    const open = () => new Promise<number>((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
    let remaining = await open();
    while (remaining > 0 && Date.now() - started < this.config.httpShutdownGraceMs) {
      await new Promise((resolve) => setTimeout(resolve, SWEEP_MS));
      remaining = await open();
    }
    if (remaining > 0) this.logger.log(`grace period over: closing ${remaining} idle or busy connections as their requests finish`);
  }
}
