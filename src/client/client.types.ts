// Request and response types of any documented operation, derived from the generated `paths` (openapi-types.ts):
// a route, method, parameter or body field the OpenAPI document does not have is a compile error.
import type { components, paths } from './openapi-types.js';

export type { components, operations, paths } from './openapi-types.js';

/** The HTTP methods the document uses, as callers write them. */
export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';

/** The documented paths that answer `method`. */
export type PathsWith<M extends HttpMethod> = {
  [P in keyof paths]: [Exclude<paths[P][Lowercase<M>], undefined>] extends [never] ? never : P;
}[keyof paths];

/** The operation object of `method path`. */
export type Operation<M extends HttpMethod, P extends PathsWith<M>> = Exclude<paths[P][Lowercase<M>], undefined>;

type DefinedKeys<T> = { [K in keyof T]-?: [Exclude<T[K], undefined>] extends [never] ? never : K }[keyof T];
/** An operation's path, query and header parameters, without the kinds it has none of. */
export type ParamsOf<Op> = Op extends { parameters: infer P } ? Pick<P, DefinedKeys<P>> : Record<never, never>;

type ParamsInit<Op> = [keyof ParamsOf<Op>] extends [never]
  ? { params?: undefined }
  : Record<never, never> extends ParamsOf<Op>
    ? { params?: ParamsOf<Op> }
    : { params: ParamsOf<Op> };

type JsonBody<R> = R extends { content: { 'application/json': infer B } } ? B : never;
/** The JSON body an operation takes (never when it takes none). */
export type BodyOf<Op> = Op extends { requestBody?: infer R } ? JsonBody<Exclude<R, undefined>> : never;
type BodyInit<Op> = [BodyOf<Op>] extends [never]
  ? { body?: undefined }
  : Op extends { requestBody: unknown }
    ? { body: BodyOf<Op> }
    : { body?: BodyOf<Op> };

/** What a call of one attempt-sequence may add: cancellation, headers, and the retry decision. */
export interface CallOptions {
  /** Cancels the call, including its wait before a retry. */
  signal?: AbortSignal;
  /** Extra request headers (e.g. `Idempotency-Key` on a route that documents none). */
  headers?: Record<string, string>;
  /**
   * Whether repeating the request is harmless, so it may be retried. Default: GET, PUT, DELETE, and any request
   * carrying an `Idempotency-Key` header; never a POST or PATCH without one.
   */
  idempotent?: boolean;
}

/** The second argument of `request(method, path, init)`: parameters and body exactly as the document types them. */
export type RequestOptions<Op> = ParamsInit<Op> & BodyInit<Op> & CallOptions;

type SuccessStatus = 200 | 201 | 202 | 203 | 204 | 206;
type ResponsesOf<Op> = Op extends { responses: infer R } ? R : never;
type ContentOf<R> = R extends { content: { 'application/json': infer B } } ? B : undefined;
/** The body of a success answer (a union when an operation has several, e.g. 200 and 202). */
export type DataOf<Op> = { [S in keyof ResponsesOf<Op>]: S extends SuccessStatus ? ContentOf<ResponsesOf<Op>[S]> : never }[keyof ResponsesOf<Op>];

/** A successful answer of `request()`. */
export interface TollgateResponse<T> {
  data: T;
  status: number;
  headers: Headers;
}

/** Tollgate's error body (`ApiErrorDto`): `error` is the machine-readable code; details depend on it. */
export type ApiErrorBody = components['schemas']['ApiErrorDto'];

/** Shorthands for the schemas the typed methods take and answer. */
type Schemas = components['schemas'];
export type Customer = DataOf<Operation<'GET', '/v1/customers/{customerId}'>>;
export type CustomerPage = DataOf<Operation<'GET', '/v1/customers'>>;
export type CreateCustomerBody = BodyOf<Operation<'POST', '/v1/customers'>>;
export type UpdateCustomerBody = BodyOf<Operation<'PATCH', '/v1/customers/{customerId}'>>;
export type ListCustomersQuery = NonNullable<ParamsOf<Operation<'GET', '/v1/customers'>>['query']>;
export type IssuedKey = DataOf<Operation<'POST', '/v1/customers/{customerId}/keys'>>;
export type ApiKey = DataOf<Operation<'DELETE', '/v1/customers/{customerId}/keys/{keyId}'>>;
export type KeyPage = DataOf<Operation<'GET', '/v1/customers/{customerId}/keys'>>;
export type CreateKeyBody = BodyOf<Operation<'POST', '/v1/customers/{customerId}/keys'>>;
export type RotateKeyBody = BodyOf<Operation<'POST', '/v1/customers/{customerId}/keys/{keyId}/rotate'>>;
export type ListKeysQuery = NonNullable<ParamsOf<Operation<'GET', '/v1/customers/{customerId}/keys'>>['query']>;
export type UsageReport = DataOf<Operation<'GET', '/v1/customers/{customerId}/usage'>>;
export type UsageQuery = NonNullable<ParamsOf<Operation<'GET', '/v1/customers/{customerId}/usage'>>['query']>;
export type UsageEvent = Schemas['IngestEventDto'];
export type IngestResult = DataOf<Operation<'POST', '/v1/events'>>;
export type VerifyRequest = BodyOf<Operation<'POST', '/v1/keys/verify'>>;
export type VerifyDecision = DataOf<Operation<'POST', '/v1/keys/verify'>>;
