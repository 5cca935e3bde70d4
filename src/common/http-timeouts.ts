import type { Server } from 'node:http';

export interface HttpTimeouts {
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
}

/** How often Node looks for requests past their headers/request timeout (its default, 30 s, would let them run 30 s over). */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/**
 * Node's defaults let a client take 60 s over its headers and 5 minutes over a request, each holding a
 * connection and its buffers; these bound both (a late client gets 408 and is disconnected). Set before
 * `listen`: Node starts its timeout checks when the server starts listening.
 */
export function applyHttpTimeouts(server: Server, timeouts: HttpTimeouts): void {
  server.requestTimeout = timeouts.httpRequestTimeoutMs;
  // Node requires headersTimeout ≤ requestTimeout (the headers are part of the request).
  server.headersTimeout = Math.min(timeouts.httpHeadersTimeoutMs, timeouts.httpRequestTimeoutMs);
  server.keepAliveTimeout = timeouts.httpKeepAliveTimeoutMs;
  // A createServer() option that Node reads when listening starts; @types/node only declares it on the options.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = TIMEOUT_CHECK_INTERVAL_MS;
}
