import { Agent, request } from 'node:http';

/** Outcome of one burst: how many of the concurrent requests each status got. */
export interface BurstResult {
  sent: number;
  /** 2xx responses: requests the limiter let through. */
  admitted: number;
  /** 429 responses. */
  refused: number;
  /** Any other status, or a request error, by status code (`error` for the latter). */
  other: Record<string, number>;
}

function get(url: URL, headers: Record<string, string>, agent: Agent): Promise<number | 'error'> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', headers, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve('error'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve('error'));
    req.end();
  });
}

/**
 * Sends `count` GETs at once, each on a connection of its own (no keep-alive, no socket limit), so the limiter
 * sees them concurrently; resolves when every one has answered or failed (each is bounded by a 10 s timeout).
 */
export async function burst(url: string, headers: Record<string, string>, count: number): Promise<BurstResult> {
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  try {
    const target = new URL(url);
    const statuses = await Promise.all(Array.from({ length: count }, () => get(target, headers, agent)));
    const result: BurstResult = { sent: count, admitted: 0, refused: 0, other: {} };
    for (const status of statuses) {
      if (typeof status === 'number' && status >= 200 && status < 300) result.admitted++;
      else if (status === 429) result.refused++;
      else result.other[String(status)] = (result.other[String(status)] ?? 0) + 1;
    }
    return result;
  } finally {
    agent.destroy();
  }
}

/** A single GET (e.g. to warm a key cache before a burst); resolves with its status. */
export async function once(url: string, headers: Record<string, string>): Promise<number | 'error'> {
  const agent = new Agent({ keepAlive: false });
  try {
    return await get(new URL(url), headers, agent);
  } finally {
    agent.destroy();
  }
}
