import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { registerService } from './contract.js';
import { checkedFetch } from './http.js';

export const SERVICE_ENTRY = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

if (!existsSync(SERVICE_ENTRY)) {
  throw new Error(`${SERVICE_ENTRY} is missing: run "npm run build" first (npm test does it)`);
}

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the built service (`node dist/src/main.js`) as a real process with the given environment. */
export function spawnService(env: Record<string, string>): ServiceProcess {
  // Its responses (through `call`) are checked against the OpenAPI document.
  if (/^\d+$/.test(env.PORT ?? '')) for (const host of ['127.0.0.1', 'localhost']) registerService(`http://${host}:${env.PORT}`);
  const child = spawn(process.execPath, [SERVICE_ENTRY], {
    env: { PATH: process.env.PATH ?? '', STRIPE_SUPPRESS_NOTICES: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, output: () => output, exited };
}

export async function waitForReady(url: string, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    try {
      if ((await checkedFetch(`${url}/health/ready`)).status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} was not ready within ${timeoutMs} ms`);
}
