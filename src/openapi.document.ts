import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ApiErrorDto, errorSchema } from './common/api.js';

// @nestjs/swagger exports the document type only: its parts, by name.
type OperationObject = NonNullable<OpenAPIObject['paths'][string]['get']>;
type ResponseOrReference = OperationObject['responses'][string] & object;
type ResponseObject = Exclude<ResponseOrReference, { $ref: string }>;
type ReferenceObject = { $ref: string };
type HeaderObject = Exclude<NonNullable<ResponseObject['headers']>[string], ReferenceObject>;
type SchemaObject = { enum?: unknown[]; properties?: Record<string, SchemaObject>; allOf?: SchemaObject[] };

const ref = (name: string): ReferenceObject => ({ $ref: `#/components/headers/${name}` });
const integerHeader = (description: string, required = false): HeaderObject => ({ description, required, schema: { type: 'integer', minimum: 0 } });

/** Every header the service sends on purpose, defined once and referenced from the responses that carry it. */
const HEADERS: Record<string, HeaderObject> = {
  'X-Request-Id': { description: 'The id of this request in the logs (a sane incoming X-Request-Id is kept)', required: true, schema: { type: 'string' } },
  'Retry-After': integerHeader('Seconds to wait before retrying (the body\'s `retryAfter`)', true),
  'WWW-Authenticate': { description: 'The Bearer challenge of the scheme that refused the request', required: true, schema: { type: 'string' } },
  RateLimit: { description: 'IETF draft: the binding policy, `"<id>";r=<remaining>;t=<seconds until more budget>`', schema: { type: 'string' } },
  'RateLimit-Policy': { description: 'IETF draft: every policy, `"<id>";q=<limit>;w=<window seconds>`, comma-separated', schema: { type: 'string' } },
  'X-RateLimit-Limit': integerHeader('Requests allowed per window of the binding policy'),
  'X-RateLimit-Remaining': integerHeader('Requests left in it'),
  'X-RateLimit-Reset': integerHeader('Seconds until more budget is available (on a 429: as Retry-After)'),
  'X-Quota-Limit': integerHeader('Included units this billing period'),
  'X-Quota-Remaining': { description: 'Included units left this period (a decimal integer: it can pass 2^53)', schema: { type: 'string', pattern: '^\\d+$' } },
  'X-Quota-Reset': integerHeader('Seconds until the billing period ends'),
};

const RATE_LIMIT_HEADERS = ['RateLimit', 'RateLimit-Policy', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];
const QUOTA_HEADERS = ['X-Quota-Limit', 'X-Quota-Remaining', 'X-Quota-Reset'];

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Paths served without the database (database/database-gate.ts): no 503 database_unavailable there. */
const WITHOUT_DATABASE = new Set(['/v1/tiers']);

type Codes = Map<number, Set<string>>;

function add(codes: Codes, status: number, ...list: string[]): void {
  const set = codes.get(status) ?? new Set<string>();
  for (const code of list) set.add(code);
  codes.set(status, set);
}

/** The codes ApiErrors() put on an error response (the enum of its `error`). */
function documentedCodes(response: ResponseOrReference): string[] {
  const schema = ('content' in response ? response.content?.['application/json']?.schema : undefined) as SchemaObject | undefined;
  return (schema?.allOf ?? []).flatMap((part) => part.properties?.error?.enum ?? []) as string[];
}

/**
 * The error codes an operation answers because of what it is, wherever it is declared: ApiExceptionFilter and the
 * body parsers for input, the guards for its security schemes, the database gate. Its own come from ApiErrors().
 */
function inheritedCodes(path: string, method: string, operation: OperationObject): Codes {
  const codes: Codes = new Map();
  const schemes = new Set((operation.security ?? []).flatMap((requirement: Record<string, string[]>) => Object.keys(requirement)));
  if (schemes.has('admin')) add(codes, 401, 'unauthorized');
  if (schemes.has('api-key')) add(codes, 401, 'invalid_api_key');
  if (schemes.has('verifier')) add(codes, 401, 'unauthorized');
  // A key with an IP allowlist is refused wherever it is presented from elsewhere.
  if (schemes.has('api-key') || schemes.has('verifier')) add(codes, 403, 'ip_not_allowed');
  const hasInput = Boolean(operation.requestBody) || (operation.parameters ?? []).some((parameter: object) => 'in' in parameter && parameter.in !== 'header');
  // Any path parameter, query value or body field can be refused (validation pipe), or refused by the database.
  if (hasInput) add(codes, 400, 'validation_failed', 'invalid_input');
  // Express refuses a path parameter that is not valid percent-encoding before any handler runs.
  if (path.includes('{')) add(codes, 400, 'bad_request');
  // The body parsers (body-parsers.ts) read a JSON or form body of any request that may carry one, before routing.
  if (method !== 'get') {
    add(codes, 400, 'invalid_json', 'payload_too_deep', 'payload_too_wide');
    add(codes, 413, 'payload_too_large', 'payload_too_wide');
    add(codes, 415, 'unsupported_media_type');
  }
  add(codes, 500, 'internal_error');
  if (!WITHOUT_DATABASE.has(path)) add(codes, 503, 'database_unavailable', 'service_unavailable');
  return codes;
}

function errorResponse(status: number, codes: string[], headers: Record<string, HeaderObject | ReferenceObject>): ResponseObject {
  return {
    description: `${REASONS[status] ?? 'Error'}: ${codes.map((code) => `\`${code}\``).join(', ')}`,
    headers,
    content: { 'application/json': { schema: errorSchema(codes) } },
  };
}

/**
 * Completes what the decorators declare: every error status with all its codes, the headers each response
 * carries, the two ways an API key may be presented, and an explicit empty security on public operations.
 */
export function completeDocument(document: OpenAPIObject): OpenAPIObject {
  document.components = { ...document.components, headers: { ...document.components?.headers, ...HEADERS } };
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method];
      if (!operation) continue;
      // A key goes in `x-api-key` or as `Authorization: Bearer <key>` (ApiKeyGuard, EventsAuthGuard): either is one requirement.
      operation.security = (operation.security ?? []).flatMap((requirement) => ('api-key' in requirement ? [requirement, { 'api-key-bearer': [] }] : [requirement]));
      const codes = inheritedCodes(path, method, operation);
      const responses = operation.responses;
      for (const [status, response] of Object.entries(responses)) {
        if (response && Number(status) >= 400) add(codes, Number(status), ...documentedCodes(response));
      }
      const rateLimited = codes.get(429)?.has('rate_limit_exceeded') ?? false;
      const metered = codes.get(429)?.has('quota_exceeded') ?? false;
      for (const [status, list] of [...codes].sort(([a], [b]) => a - b)) {
        const headers: Record<string, HeaderObject | ReferenceObject> = { 'X-Request-Id': ref('X-Request-Id') };
        if (status === 401) headers['WWW-Authenticate'] = ref('WWW-Authenticate');
        // Every 429 and 503 says when to come back, except Stripe's own retries (stripe_unavailable: Stripe decides)…
        if (status === 429 || (status === 503 && !list.has('stripe_unavailable'))) headers['Retry-After'] = ref('Retry-After');
        // Except a key's used-up usage cap without a refill: nothing frees up, so no Retry-After then.
        if (status === 429 && list.has('usage_exceeded')) headers['Retry-After'] = { ...HEADERS['Retry-After'], required: false, description: `${HEADERS['Retry-After'].description} (usage_exceeded: until the key's next refill; absent without one)` };
        if (status === 429) {
          for (const name of [...(rateLimited ? RATE_LIMIT_HEADERS : []), ...(metered ? QUOTA_HEADERS : [])]) headers[name] = ref(name);
        }
        responses[String(status)] = errorResponse(status, [...list].sort(), headers);
      }
      for (const [status, response] of Object.entries(responses)) {
        if (!response || Number(status) >= 400 || '$ref' in response) continue;
        const headers: Record<string, HeaderObject | ReferenceObject> = { ...response.headers, 'X-Request-Id': ref('X-Request-Id') };
        for (const name of [...(rateLimited ? RATE_LIMIT_HEADERS : []), ...(metered ? QUOTA_HEADERS : [])]) headers[name] = ref(name);
        response.headers = headers;
      }
      if (operation.security.length === 0) operation.security = [];
    }
  }
  return document;
}

/** The service's OpenAPI document (served at /docs/openapi.json): generated from the controllers' decorators, then completed. */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Tollgate')
    .setDescription('API keys, tiers, rate limits, quotas, usage metering and Stripe billing')
    .setVersion('1')
    .setLicense('MIT', 'https://opensource.org/licenses/MIT')
    .addServer('http://localhost:3000', 'A local Tollgate service (PORT)')
    // An opaque shared secret (ADMIN_TOKEN), not a JWT: addSecurity, as addBearerAuth would add bearerFormat JWT.
    .addSecurity('admin', { type: 'http', scheme: 'bearer', description: 'The admin token (ADMIN_TOKEN)' })
    .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key', description: 'An API key (`tg_live_…`, `tg_test_…`)' }, 'api-key')
    .addSecurity('api-key-bearer', { type: 'http', scheme: 'bearer', description: 'An API key as `Authorization: Bearer <key>`' })
    // nginx's auth_request door: Authorization carries the client's key there, so the gateway's credential has its own header.
    .addApiKey({ type: 'apiKey', in: 'header', name: 'x-tollgate-verifier', description: 'The gateway (nginx auth_request): a `verify`-scoped API key or the admin token' }, 'verifier')
    .build();
  return completeDocument(SwaggerModule.createDocument(app, config, { extraModels: [ApiErrorDto] }));
}
