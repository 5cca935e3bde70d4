import type { IncomingMessage } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { jsonStructureProblem } from './json-structure.js';

export interface BodyLimits {
  bodyLimitBytes: number;
  bulkBodyLimitBytes: number;
  jsonMaxDepth: number;
  jsonMaxWidth: number;
}

/** Routes that take big bodies: the ingest API (up to 1000 events per call) and Stripe's webhooks. */
export const BULK_BODY_ROUTES: ReadonlySet<string> = new Set(['POST /v1/events', 'POST /v1/stripe/webhooks']);

/** A refusal body-parser passes on with our status and `type` (the exception filter turns it into `{ error, message }`). */
export class BodyRefused extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

type ParsedRequest = IncomingMessage & { rawBody?: Buffer };

/** Express matches routes case-insensitively and with or without a trailing slash: so does this. */
function isBulkRoute(request: IncomingMessage): boolean {
  const path = (request.url ?? '').split('?')[0].replace(/\/+$/, '').toLowerCase();
  return BULK_BODY_ROUTES.has(`${request.method} ${path}`);
}

/** `application/json`, with or without parameters (what body-parser's JSON parser takes by default). */
function isJson(request: IncomingMessage): boolean {
  return (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase() === 'application/json';
}

/**
 * Installs the JSON and urlencoded body parsers with their limits checked on the raw bytes, before anything
 * parses them: the size (per route: a bigger Content-Length is refused without buffering the body), the charset
 * (UTF-8 only: the structure scan reads bytes), the JSON nesting depth and container width. The raw body
 * stays on `request.rawBody` (Stripe's signature check). The app must be created with `bodyParser: false`
 * and without `rawBody` (see APP_OPTIONS).
 */
export function installBodyParsers(app: NestExpressApplication, limits: BodyLimits): void {
  const verifyJson = (request: ParsedRequest, _response: unknown, body: Buffer, encoding: string | null) => {
    if (encoding !== null && encoding !== 'utf-8' && encoding !== 'utf8') {
      throw new BodyRefused(415, 'charset.unsupported', 'JSON bodies must be UTF-8.');
    }
    const problem = jsonStructureProblem(body, { maxDepth: limits.jsonMaxDepth, maxWidth: limits.jsonMaxWidth });
    if (problem) throw new BodyRefused(400, problem.error, problem.message);
    request.rawBody = body;
  };
  const keepRaw = (request: ParsedRequest, _response: unknown, body: Buffer) => {
    request.rawBody = body;
  };

  // Two JSON parsers, each for its routes (`type` decides); Nest's typings reserve `verify` for its own
  // raw-body hook, which is off here (no `rawBody` option): ours takes its place.
  const bulkJson = { limit: limits.bulkBodyLimitBytes, type: (request: IncomingMessage) => isJson(request) && isBulkRoute(request), verify: verifyJson };
  const json = { limit: limits.bodyLimitBytes, type: (request: IncomingMessage) => isJson(request) && !isBulkRoute(request), verify: verifyJson };
  app.useBodyParser('json', bulkJson);
  app.useBodyParser('json', json);
  // Forms only matter to clients that forget the content type; qs bounds their depth and parameter count itself.
  const urlencoded = { extended: true, limit: limits.bodyLimitBytes, depth: limits.jsonMaxDepth, parameterLimit: limits.jsonMaxWidth, verify: keepRaw };
  app.useBodyParser('urlencoded', urlencoded);
}
