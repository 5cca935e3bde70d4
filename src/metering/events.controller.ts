import { Body, Controller, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsObject } from 'class-validator';
import type { Request } from 'express';
import { consumerOf } from '../api-keys/consumer.js';
import { Public } from '../api-keys/public.decorator.js';
import { EventsAuthGuard } from './events-auth.guard.js';
import { EventsService, type IncomingEvent } from './events.service.js';

export class IngestEventsDto {
  @ApiProperty({
    description: 'Up to 1000 events: { customerId, meter, quantity, timestamp, idempotencyKey, properties }',
    example: [{ customerId: 'cus_123', meter: 'api_calls', quantity: 1, timestamp: '2026-11-23T10:00:00Z', idempotencyKey: 'req-42' }],
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsObject({ each: true, message: 'each event must be an object' })
  events: IncomingEvent[];
}

@ApiTags('usage')
@ApiBearerAuth('admin')
@Public()
@UseGuards(EventsAuthGuard)
@Controller('v1/events')
export class EventsController {
  constructor(@Inject(EventsService) private readonly events: EventsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Record usage from other services; each event is accepted, a duplicate, or rejected with a reason' })
  async ingest(@Body() body: IngestEventsDto, @Req() request: Request) {
    const results = await this.events.ingest(body.events, consumerOf(request)?.customerId ?? null);
    const count = (status: string) => results.filter((result) => result.status === status).length;
    return { accepted: count('accepted'), duplicates: count('duplicate'), rejected: count('rejected'), results };
  }
}
