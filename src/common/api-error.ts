/** The JSON body of every error response: `{ error: code, message: sentence, ...details }`. */
export interface ApiErrorBody {
  error: string;
  message: string;
  [detail: string]: unknown;
}

export function isApiErrorBody(value: unknown): value is ApiErrorBody {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ApiErrorBody).error === 'string' &&
    // Nest's own bodies also have `error` ("Not Found"); ours are snake_case codes.
    /^[a-z][a-z0-9_]*$/.test((value as ApiErrorBody).error) &&
    typeof (value as ApiErrorBody).message === 'string'
  );
}
