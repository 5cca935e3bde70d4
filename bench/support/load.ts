import { createHistogram } from 'node:perf_hooks';
import autocannon from 'autocannon';

export interface LoadOptions {
  connections: number;
  pipelining: number;
  durationSeconds: number;
}

/** One autocannon run against one URL. */
export interface Measurement {
  requests: number;
  seconds: number;
  /** Completed responses per second over the whole run. */
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts included. */
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** First few distinct request errors, for the report. */
  errorSamples: string[];
}

/** What to send, when not a plain GET: a method, and a body made afresh for every request (sent as JSON). */
export interface LoadRequest {
  method?: 'GET' | 'POST';
  body?: () => string;
}

/**
 * Runs autocannon for a fixed time. Latency percentiles come from the exact (sub-millisecond) response times
 * autocannon reports per response, recorded in microseconds; autocannon's own histogram has 1 ms resolution.
 */
export function runLoad(url: string, headers: Record<string, string>, options: LoadOptions, request: LoadRequest = {}): Promise<Measurement> {
  const makeBody = request.body;
  const latencies = createHistogram();
  const statusCodes: Record<string, number> = {};
  const errorSamples = new Set<string>();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        method: request.method ?? 'GET',
        headers: makeBody ? { 'content-type': 'application/json', ...headers } : headers,
        // A fresh body per request (unique idempotency keys, say): autocannon rebuilds each request through setupRequest.
        ...(makeBody && { requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, body: makeBody() }) }] }),
        connections: options.connections,
        pipelining: options.pipelining,
        duration: options.durationSeconds,
        timeout: 10,
      },
      (error: unknown, result) => {
        if (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const requests = result.requests.total;
        const count = latencies.count;
        resolve({
          requests,
          seconds: result.duration,
          reqPerSec: result.duration > 0 ? requests / result.duration : 0,
          p50Ms: count > 0 ? latencies.percentile(50) / 1000 : Number.NaN,
          p99Ms: count > 0 ? latencies.percentile(99) / 1000 : Number.NaN,
          errors: result.errors,
          timeouts: result.timeouts,
          non2xx: result.non2xx,
          statusCodes,
          errorSamples: [...errorSamples],
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.record(Math.max(1, Math.round(responseTime * 1000)));
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
    });
    instance.on('reqError', (error: unknown) => {
      if (errorSamples.size < 3) errorSamples.add(error instanceof Error ? error.message : String(error));
    });
  });
}
