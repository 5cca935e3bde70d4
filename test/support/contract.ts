import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, expect } from '@jest/globals';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { AppModule } from '../../src/app.module.js';
import { createOpenApiDocument } from '../../src/openapi.document.js';
import { parseTierCatalog } from '../../src/config/tier-catalog.js';
import { TollgateConfig } from '../../src/config/tollgate-config.js';

/**
 * Checks every response the e2e suite gets from a Tollgate service (through `call`) against the service's
 * OpenAPI document: a status the operation does not document, a body its schema refuses, or a required or
 * malformed header fails the test that made the request.
 */

/** Routes deliberately not in the document, with why. A response from one of them is not checked. */
export const UNDOCUMENTED_ROUTES: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  { pattern: /^\/portal(\/|$)/i, reason: 'the customer portal: its pages and its cookie-session API serve the bundled UI, not API clients' },
  { pattern: /^\/console(\/|$)/i, reason: "the operator console: its page and its cookie-session API serve the bundled UI; operators' clients use the admin API" },
  { pattern: /^\/v1\/stripe\/webhooks\/?$/i, reason: "Stripe's webhooks: Stripe's own format, signed; not for clients" },
  { pattern: /^\/health(\/|$)/i, reason: 'liveness/readiness probes for orchestrators (terminus report)' },
  { pattern: /^\/metrics\/?$/i, reason: 'Prometheus text exposition' },
  { pattern: /^\/docs(\/|$)/i, reason: 'the document itself and its Swagger UI' },
];

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** The document as the service serves it (demo routes included), built without starting anything. */
let documentCache: OpenAPIObject | null = null;
export async function serviceDocument(): Promise<OpenAPIObject> {
  if (documentCache) return documentCache;
  const config = TollgateConfig.create({
    port: 0,
    adminToken: 'contract-admin-token-0123456789abcdef',
    demo: true,
    encryptionKey: 'contract-encryption-key-0123456789abcdef-01',
    catalog: parseTierCatalog(readFileSync(new URL('../../tiers.yaml', import.meta.url), 'utf8')),
  });
  // Preview: the module graph and its controllers, no provider instantiated (no database, no Redis). NestFactory
  // without a `logger` option leaves Nest's static Logger alone (Test.createTestingModule would replace it with its
  // errors-only TestingLogger, silencing the logs of the app under test).
  documentCache = createOpenApiDocument(await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config }), { preview: true }));
  return documentCache;
}

type Schema = Record<string, unknown>;

/**
 * OpenAPI 3.0 schema → JSON Schema for Ajv: `nullable` becomes a null alternative. The document's named
 * objects are closed (`additionalProperties: false` unless they say otherwise), so a field the document does not
 * list is a mismatch too; the error body stays open (its details depend on the code).
 */
function toJsonSchema(schema: unknown, close: boolean): unknown {
  if (Array.isArray(schema)) return schema.map((item) => toJsonSchema(item, false));
  if (typeof schema !== 'object' || schema === null) return schema;
  const { nullable, example: _example, ...rest } = schema as Schema;
  const converted: Schema = {};
  for (const [key, value] of Object.entries(rest)) {
    converted[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as Schema).map(([name, property]) => [name, toJsonSchema(property, false)])) : toJsonSchema(value, false);
  }
  if (close && converted.type === 'object' && converted.properties && converted.additionalProperties === undefined) converted.additionalProperties = false;
  if (nullable !== true) return converted;
  if (converted.allOf || converted.oneOf || converted.anyOf || converted.$ref) {
    // `{ type: object, nullable, allOf: [$ref] }` (how @nestjs/swagger writes a nullable DTO): the DTO or null.
    const { type: _type, description: _description, ...composite } = converted;
    return { anyOf: [composite, { type: 'null' }] };
  }
  if (typeof converted.type === 'string') return { ...converted, type: [converted.type, 'null'], ...(converted.enum ? { enum: [...(converted.enum as unknown[]), null] } : {}) };
  return { anyOf: [converted, { type: 'null' }] };
}

interface Operation {
  template: string;
  pattern: RegExp;
  method: string;
  responses: Record<string, { content?: Record<string, { schema: unknown }>; headers?: Record<string, { $ref?: string; required?: boolean; schema?: unknown }> }>;
}

interface Contract {
  operations: Operation[];
  ajv: Ajv;
  validators: Map<string, ValidateFunction>;
  document: OpenAPIObject;
}

let contractCache: Promise<Contract> | null = null;
function contract(): Promise<Contract> {
  contractCache ??= (async () => {
    const document = await serviceDocument();
    const schemas = Object.fromEntries(Object.entries(document.components?.schemas ?? {}).map(([name, schema]) => [name, toJsonSchema(schema, name !== 'ApiErrorDto')]));
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'tollgate', components: { schemas } });
    const operations: Operation[] = [];
    for (const [template, item] of Object.entries(document.paths)) {
      // Express matches paths case-insensitively, with or without a trailing slash; a parameter is one segment.
      const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}/?$`, 'i');
      for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
        const operation = item[method];
        if (operation) operations.push({ template, pattern, method: method.toUpperCase(), responses: operation.responses as Operation['responses'] });
      }
    }
    return { operations, ajv, validators: new Map(), document };
  })();
  return contractCache;
}

function validator(contract: Contract, key: string, schema: unknown): ValidateFunction {
  let validate = contract.validators.get(key);
  if (!validate) {
    const rewritten = JSON.parse(JSON.stringify(toJsonSchema(schema, false)).replaceAll('"#/components/', '"tollgate#/components/'));
    validate = contract.ajv.compile(rewritten as Schema);
    contract.validators.set(key, validate);
  }
  return validate;
}

/** Origins of Tollgate services under test, and whether test-only probe routes are mounted on them. */
const services = new Map<string, { probes: boolean }>();

/** startTestApp and spawned services register here: only their responses are checked (not a host app's, an emulator's). */
export function registerService(url: string, options: { probes?: boolean } = {}): void {
  services.set(new URL(url).origin, { probes: options.probes ?? false });
}

/** Responses of registered services: all of them (any fetch), checked against the document, skipped by the lists above. */
export const contractStats = { responses: 0, checked: 0, skipped: 0 };

// Counts every response a registered service gives, so the share `call` checks can be reported (raw fetches are not checked).
const originalFetch = globalThis.fetch;
if (!(originalFetch as { counted?: boolean }).counted) {
  const counting = async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const response = await originalFetch(input, init);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (services.has(new URL(url).origin)) contractStats.responses++;
    return response;
  };
  globalThis.fetch = Object.assign(counting, { counted: true }) as typeof fetch;
}

// TOLLGATE_CONTRACT_STATS=<file>: each test file appends its counts (one JSON line) after its tests.
const statsFile = process.env.TOLLGATE_CONTRACT_STATS;
if (statsFile) afterAll(() => appendFileSync(statsFile, `${JSON.stringify({ file: expect.getState().testPath, ...contractStats })}\n`));

/** Throws (failing the calling test) when the response does not match the document. */
export async function checkResponse(method: string, url: string, status: number, headers: Headers, body: unknown): Promise<void> {
  const target = new URL(url);
  const service = services.get(target.origin);
  if (!service) return;
  const path = target.pathname;
  const where = `${method} ${path} → ${status}`;
  if (UNDOCUMENTED_ROUTES.some((route) => route.pattern.test(path))) {
    contractStats.skipped++;
    return;
  }
  const current = await contract();
  const { operations, ajv } = current;
  const candidates = operations.filter((operation) => operation.pattern.test(path));
  const operation = candidates.find((candidate) => candidate.method === method.toUpperCase());
  if (!operation) {
    // Express's answer to a route it does not have: the same JSON error shape, nothing else documented.
    const notFound = status === 404 && typeof body === 'object' && body !== null && (body as { error?: unknown }).error === 'not_found';
    if (notFound || service.probes) {
      contractStats.skipped++;
      return;
    }
    throw new Error(`contract: ${where}: no such operation in the OpenAPI document`);
  }
  contractStats.checked++;
  const response = operation.responses[String(status)];
  if (!response) {
    throw new Error(`contract: ${method} ${operation.template} answered ${status}, not a documented status (${Object.keys(operation.responses).join(', ')}): ${JSON.stringify(body)}`);
  }
  const schema = response.content?.['application/json']?.schema;
  if (schema) {
    const validate = validator(current, `${method} ${operation.template} ${status}`, schema);
    if (!validate(body)) {
      throw new Error(`contract: ${where}: body does not match ${method} ${operation.template} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`);
    }
  }
  for (const [name, header] of Object.entries(response.headers ?? {})) {
    const definition = (header.$ref ? current.document.components?.headers?.[header.$ref.split('/').pop()!] : header) as { required?: boolean; schema?: Schema };
    const value = headers.get(name);
    if (value === null) {
      if (definition.required) throw new Error(`contract: ${where}: required header ${name} is missing`);
      continue;
    }
    const type = definition.schema?.type;
    const parsed = type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : value;
    const validate = validator(current, `header ${name}`, definition.schema ?? {});
    if (!validate(parsed)) throw new Error(`contract: ${where}: header ${name}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
  }
}
