import { checkResponse } from './contract.js';

/** Response bodies in tests are whatever the API sent: typed loosely so assertions can reach into them. */
export function json(response: Response): Promise<any> {
  return response.json() as Promise<any>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  body: any;
}

/** A response body as `call` answers it: parsed JSON, null when empty, else the text. */
export function parseBody(text: string): any {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text; // not JSON: keep the text
  }
}

type FetchInput = Parameters<typeof fetch>[0];
type FetchInit = Parameters<typeof fetch>[1];

function describeRequest(input: FetchInput, init?: FetchInit): { method: string; url: string } {
  if (typeof input === 'string' || input instanceof URL) return { method: init?.method ?? 'GET', url: String(input) };
  return { method: init?.method ?? input.method, url: input.url };
}

/**
 * `fetch`, with the response checked against the OpenAPI document like `call`'s. The check reads a clone of
 * the body, before the response is handed back (a mismatch fails the caller there); the caller's own body
 * is untouched. For a test that streams a body or times its reads, use `fetch` and `checkFetched` instead.
 */
export async function checkedFetch(input: FetchInput, init?: FetchInit): Promise<Response> {
  const { method, url } = describeRequest(input, init);
  const response = await fetch(input, init);
  await checkResponse(method, url, response.status, response.headers, parseBody(await response.clone().text()));
  return response;
}

/** Checks a raw `fetch` response against the document after the caller has read its body itself (as text or bytes). */
export function checkFetched(input: FetchInput, init: FetchInit | undefined, response: Response, body: string | ArrayBuffer): Promise<void> {
  const { method, url } = describeRequest(input, init);
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  return checkResponse(method, url, response.status, response.headers, parseBody(text));
}

/** One HTTP call with a JSON body (if any), answering status, headers and the parsed body; checked against the OpenAPI document. */
export async function call(
  method: string,
  url: string,
  options: { body?: unknown; headers?: Record<string, string>; bearer?: string; apiKey?: string } = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.bearer) headers.authorization = `Bearer ${options.bearer}`;
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const response = await fetch(url, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
  });
  const body = parseBody(await response.text());
  // Every response of a Tollgate service under test must match its OpenAPI document (test/support/contract.ts).
  await checkResponse(method, url, response.status, response.headers, body);
  return { status: response.status, headers: response.headers, body };
}
