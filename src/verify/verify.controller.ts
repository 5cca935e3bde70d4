import { Body, Controller, Get, HttpCode, HttpException, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/api.js';
import type { Request, Response } from 'express';
import { isIP } from 'node:net';
import { presentedKey } from '../api-keys/index.js';
import { InvalidIdempotencyKeyException, isApiErrorBody, Public, validationFailed } from '../common/index.js';
import { IDEMPOTENCY_KEY } from '../metering/index.js';
import { AuthRequestCallerGuard, VERIFIER_HEADER, VerifyCallerGuard } from './verifier.guard.js';
import { MAX_PATH_LENGTH, REQUEST_METHOD, REQUEST_PATH, VerifyDecisionDto, VerifyKeyDto } from './verify.dto.js';
import { type VerifyDecision, type VerifyInput, VerifyService } from './verify.service.js';

/** Headers the auth-request door reads besides the client's key (nginx: `proxy_set_header`). */
export const ORIGINAL_URI_HEADER = 'x-original-uri';
export const ORIGINAL_METHOD_HEADER = 'x-original-method';
export const COST_HEADER = 'x-tollgate-cost';
export const METER_HEADER = 'x-tollgate-meter';
/** The client's address as nginx saw it (`proxy_set_header X-Original-IP $remote_addr`), for keys with an IP allowlist. */
export const ORIGINAL_IP_HEADER = 'x-original-ip';
/** Decision headers the auth-request door answers with, for nginx to pass upstream (`auth_request_set`). */
export const DECISION_HEADERS = { code: 'X-Tollgate-Code', customerId: 'X-Tollgate-Customer-Id', tier: 'X-Tollgate-Tier' } as const;

const single = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

@ApiTags('verify')
@Public()
@Controller('v1/keys/verify')
export class VerifyController {
  constructor(@Inject(VerifyService) private readonly verifier: VerifyService) {}

  @Post()
  @HttpCode(200)
  // Listed admin first (decorators apply bottom-up): the hostile-input suite calls as the first scheme.
  @ApiSecurity('api-key')
  @ApiBearerAuth('admin')
  @UseGuards(VerifyCallerGuard)
  @ApiOperation({
    summary: 'Decide one request of another service as the guard chain would: key, tier and endpoint globs, rate limit, quota, and (record) its usage event',
    description: 'Authorized by the admin token or by a key with the "verify" scope (granted by the operator only). A refusal is a 200 with valid: false.',
  })
  @ApiOkResponse({ type: VerifyDecisionDto, description: 'The decision: serve it (valid) or refuse it with the code, status and headers a guarded route would answer' })
  @ApiErrors({ 400: ['invalid_cost'], 403: ['scope_required'] })
  async verify(@Body() body: VerifyKeyDto): Promise<VerifyDecision> {
    this.assertKnownMeter(body.meter);
    return this.verifier.verify({ ...body, method: body.method.toUpperCase() });
  }

  @Get('auth-request')
  @ApiSecurity('verifier')
  @UseGuards(AuthRequestCallerGuard)
  @ApiOperation({
    summary: "nginx auth_request: decides the original request from its headers; 204 serve, 401/403/429 refuse (503 on a closed-mode store fault), with the headers to forward",
    description: `The verifier's credential (admin token or a "verify" key) comes in ${VERIFIER_HEADER}, set by nginx; the client's own key in x-api-key or Authorization. Answers carry ${Object.values(DECISION_HEADERS).join(', ')}.`,
  })
  @ApiHeader({ name: ORIGINAL_URI_HEADER, required: true, description: 'nginx: $request_uri' })
  @ApiHeader({ name: ORIGINAL_METHOD_HEADER, required: false, description: 'nginx: $request_method (default GET)' })
  @ApiHeader({ name: COST_HEADER, required: false, description: "Units the request costs (default: the path's cost in tiers.yaml, else 1)" })
  @ApiHeader({ name: METER_HEADER, required: false, description: 'The meter (default api_calls)' })
  @ApiHeader({ name: 'idempotency-key', required: false, description: 'A retry is admitted and counted once' })
  @ApiHeader({ name: ORIGINAL_IP_HEADER, required: false, description: "nginx: $remote_addr (the client's address; a key with an IP allowlist is refused ip_not_allowed without it)" })
  @ApiResponse({
    status: 204,
    description: 'Serve it: forward the RateLimit / X-RateLimit / X-Quota headers to the client',
    headers: {
      [DECISION_HEADERS.code]: { description: '`ok`, or the refusal code', schema: { type: 'string' } },
      [DECISION_HEADERS.customerId]: { description: 'Whose key it is (for the upstream)', schema: { type: 'string' } },
      [DECISION_HEADERS.tier]: { description: "The customer's tier", schema: { type: 'string' } },
    },
  })
  // What a guarded route would answer the original request; the verifier's own refusals are `unauthorized` / `scope_required`.
  @ApiErrors({
    400: ['validation_failed', 'invalid_cost', 'invalid_idempotency_key'],
    401: ['invalid_api_key'],
    403: ['tier_required', 'scope_required', 'ip_not_allowed', 'endpoint_not_allowed'],
    429: ['rate_limit_exceeded', 'quota_exceeded', 'usage_limit_reached', 'usage_exceeded'],
    500: ['usage_not_recorded'],
    503: ['rate_limiter_unavailable', 'usage_unavailable'],
  })
  async authRequest(@Req() request: Request, @Res() response: Response): Promise<void> {
    let input: VerifyInput;
    try {
      input = this.fromHeaders(request);
    } catch (error) {
      // nginx sees only headers of a refusal: name the 400's code there too.
      const body = error instanceof HttpException ? error.getResponse() : null;
      if (isApiErrorBody(body)) response.setHeader(DECISION_HEADERS.code, body.error);
      throw error;
    }
    const decision = await this.verifier.verify(input);
    for (const [name, value] of Object.entries(decision.headers)) response.setHeader(name, value);
    response.setHeader(DECISION_HEADERS.code, decision.code);
    if (decision.customerId) response.setHeader(DECISION_HEADERS.customerId, decision.customerId);
    if (decision.tier) response.setHeader(DECISION_HEADERS.tier, decision.tier);
    if (decision.valid) response.status(204).end();
    else response.status(decision.status).json({ error: decision.code, message: decision.message, retryAfter: decision.retryAfter });
  }

  /** The original request as nginx describes it; a malformed description is a 400 naming the header. */
  private fromHeaders(request: Request): VerifyInput {
    const problems: Array<{ field: string; problems: string[] }> = [];
    const uri = single(request.headers[ORIGINAL_URI_HEADER]);
    if (uri === undefined || uri.length > MAX_PATH_LENGTH || !REQUEST_PATH.test(uri)) {
      problems.push({ field: ORIGINAL_URI_HEADER, problems: ['must be the original request URI, like /v1/search?q=x (nginx: $request_uri)'] });
    }
    const method = single(request.headers[ORIGINAL_METHOD_HEADER]) ?? 'GET';
    if (!REQUEST_METHOD.test(method)) problems.push({ field: ORIGINAL_METHOD_HEADER, problems: ['must be an HTTP method like GET'] });
    const costHeader = single(request.headers[COST_HEADER]);
    if (costHeader !== undefined && !/^\d{1,16}$/.test(costHeader)) problems.push({ field: COST_HEADER, problems: ['must be a whole number ≥ 0'] });
    // Not a 400 when it is no IP address (nginx on a unix socket sends "unix:"): the address is unknown, which only
    // a key with an IP allowlist minds (refused ip_not_allowed).
    const originalIp = single(request.headers[ORIGINAL_IP_HEADER]);
    const ip = originalIp !== undefined && isIP(originalIp) ? originalIp : undefined;
    const meter = single(request.headers[METER_HEADER]);
    if (problems.length > 0) throw validationFailed(problems);
    this.assertKnownMeter(meter);
    const idempotencyKey = single(request.headers['idempotency-key']);
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) throw new InvalidIdempotencyKeyException();
    return {
      key: presentedKey(request.headers),
      path: uri!,
      method: method.toUpperCase(),
      cost: costHeader === undefined ? undefined : Number(costHeader),
      meter,
      idempotencyKey,
      ip,
    };
  }

  private assertKnownMeter(meter: string | undefined): void {
    if (meter === undefined || this.verifier.knownMeter(meter)) return;
    throw validationFailed([{ field: 'meter', problems: [`unknown meter "${meter.slice(0, 64)}"`] }]);
  }
}
