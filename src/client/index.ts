// `tollgate/client`: the typed HTTP client of a Tollgate service. Nothing here loads Nest or any package.
export { createTollgateClient, type RetryEvent, type RetryOptions, type TollgateClient, type TollgateClientOptions } from './client.js';
export { TollgateApiError } from './client.errors.js';
export type * from './client.types.js';
