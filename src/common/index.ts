// The common module's public surface: other folders import only from here (enforced by the boundary lint).
export { ApiExceptionFilter } from './api-exception.filter.js';
export { installBodyParsers } from './body-parsers.js';
export { ConstantTimeComparator } from './constant-time.js';
export { isDatabaseUnavailable } from './database-errors.js';
export { addDecimals, isDecimalString, multiplyDecimal, multiplyDecimals, normalizeDecimal, roundDecimal, toMinorUnits } from './decimal.js';
export { applyHttpTimeouts } from './http-timeouts.js';
export { newId, randomBase62 } from './ids.js';
export { KeyedSerializer } from './keyed-serializer.js';
export { Public, PUBLIC_ROUTE } from './public.decorator.js';
export { BIGINT_MAX, jsonQuantity, type JsonQuantity, parseQuantity } from './quantity.js';
export { SecretBox } from './secret-box.js';
export { findTextProblem, textProblem } from './text.js';
export { createValidationPipe, type FieldProblem, IsIsoDateTime, IsOmittable, validationFailed } from './validation.js';
export { type ApiErrorBody, isApiErrorBody } from './api-error.js';
export {
  API_KEY_CHALLENGE,
  applyErrorHeaders,
  BACKING_SERVICE_RETRY_AFTER_SECONDS,
  BackingServiceUnavailableException,
  DATABASE_GATE_RETRY_AFTER_SECONDS,
  DatabaseUnavailableException,
  EndpointNotAllowedException,
  type ErrorHeaders,
  type HeaderSink,
  InvalidApiKeyException,
  InvalidCostException,
  InvalidIdempotencyKeyException,
  IpNotAllowedException,
  QuotaExceededException,
  type QuotaRefusalDetails,
  RATE_LIMITER_RETRY_AFTER_SECONDS,
  RateLimiterUnavailableException,
  RateLimitExceededException,
  type RateLimitExceededDetails,
  ScopeRequiredException,
  TierRequiredException,
  type TierRequiredDetails,
  TollgateException,
  UsageExceededException,
  UsageLimitReachedException,
  UsageNotRecordedException,
  UsageUnavailableException,
} from './tollgate.exceptions.js';
export { type ErrorAnswer, TollgateExceptionFilter } from './tollgate-exception.filter.js';
export { existingRequestState, firstRunFor, pathOf, requestState, RequestState, RequestStep } from './request-state.js';
export { headerSinkOf, type HttpRequest, requestHeader, requestPath, sendJson } from './http-exchange.js';
export { loadOptionalPeer, MissingPackageError } from './optional-peer.js';
export { createSmtpTransport, type MailTransport } from './smtp-transport.js';
export { assertPageOrigin, assertPageSignIn, PAGE_CSP, type PageAsset, PageAssets, sendPageAsset, setPageSecurityHeaders } from './browser-page.js';
