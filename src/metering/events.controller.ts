import { Body, Controller, HttpCode, Inject, Post, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { consumerOf } from '../api-keys/index.js';
import { Public } from '../common/index.js';
import { type FieldProblem, validationFailed } from '../common/index.js';
import { ApiErrors } from '../common/api.js';
import { EventsAuthGuard } from './events-auth.guard.js';
import { IngestEventsDto, IngestResultDto, MAX_EVENTS_PER_CALL } from './events.dto.js';
import { EventsService, type IncomingEvent } from './events.service.js';
import { UsageUnavailableError } from './usage-ingestor.js';
import { usageUnavailable } from './usage-unavailable.js';

/**
 * The batch's own shape; each event is then checked on its own by EventsService (a bad one is rejected with a
 * reason, the rest go in). Done by hand because the validation pipe would deep-copy every event's properties
 * first (class-transformer): up to 2 MB of them, hundreds of ms of a blocked event loop per call.
 */
export function ingestBodyProblems(body: unknown): FieldProblem[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [{ field: 'body', problems: ['must be an object like { "events": [...] }'] }];
  const problems: FieldProblem[] = Object.keys(body)
    .filter((key) => key !== 'events')
    .map((key) => ({ field: key, problems: [`property ${key} should not exist`] }));
  const { events } = body as { events?: unknown };
  if (!Array.isArray(events)) problems.push({ field: 'events', problems: ['must be an array of events'] });
  else if (events.length < 1 || events.length > MAX_EVENTS_PER_CALL) problems.push({ field: 'events', problems: [`must hold 1 to ${MAX_EVENTS_PER_CALL} events`] });
  else if (events.some((event) => typeof event !== 'object' || event === null || Array.isArray(event))) {
    problems.push({ field: 'events', problems: ['each event must be an object'] });
  }
  return problems;
}

@ApiTags('usage')
@ApiBearerAuth('admin')
@ApiSecurity('api-key')
@Public()
@UseGuards(EventsAuthGuard)
@Controller('v1/events')
export class EventsController {
  constructor(@Inject(EventsService) private readonly events: EventsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Record usage from other services; each event is accepted, a duplicate, or rejected with a reason' })
  @ApiBody({ type: IngestEventsDto, description: 'With the admin token: any customer; with an `ingest`-scoped API key: its own customer' })
  @ApiOkResponse({ type: IngestResultDto, description: 'Per event: accepted, duplicate (same idempotency key) or rejected with a reason' })
  @ApiErrors({ 401: ['unauthorized', 'invalid_api_key'], 403: ['scope_required'], 503: ['usage_unavailable'] })
  async ingest(@Body() body: unknown, @Req() request: Request, @Res({ passthrough: true }) response: Response) {
    const problems = ingestBodyProblems(body);
    if (problems.length > 0) throw validationFailed(problems);
    let results: Awaited<ReturnType<EventsService['ingest']>>;
    try {
      results = await this.events.ingest((body as { events: IncomingEvent[] }).events, consumerOf(request)?.customerId ?? null);
    } catch (error) {
      // Some events of the call may be recorded already: the retry (same idempotency keys) counts them once.
      throw error instanceof UsageUnavailableError ? usageUnavailable(error, response) : error;
    }
    const counts = { accepted: 0, duplicate: 0, rejected: 0 };
    for (const result of results) counts[result.status]++;
    return { accepted: counts.accepted, duplicates: counts.duplicate, rejected: counts.rejected, results };
  }
}
