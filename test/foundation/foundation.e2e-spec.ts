import { Controller, Get, Module, Post, Body } from '@nestjs/common';
import { IsInt, IsString, Min } from 'class-validator';
import { createTestDatabase, usingRealPostgres, type TestDatabase } from '../support/database.js';
import { checkedFetch, json } from '../support/http.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';

class EchoBody {
  @IsString()
  name: string;

  @IsInt()
  @Min(1)
  count: number;
}

let releaseSlow: () => void = () => undefined;

@Controller('test')
class ProbeController {
  @Get('slow')
  async slow() {
    await new Promise<void>((resolve) => (releaseSlow = resolve));
    return { finished: true };
  }

  @Post('echo')
  echo(@Body() body: EchoBody) {
    return body;
  }

  @Get('boom')
  boom() {
    throw new Error('database password is hunter2');
  }
}

@Module({ controllers: [ProbeController] })
class ProbeModule {}

describe('foundation: the service on its database', () => {
  let database: TestDatabase;
  let service: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { imports: [ProbeModule] });
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it('is live and ready, with the database (and Redis when configured) up', async () => {
    expect((await checkedFetch(`${service.url}/health/live`)).status).toBe(200);
    const response = await checkedFetch(`${service.url}/health/ready`);
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(body.status).toBe('ok');
    expect(body.details.database.status).toBe('up');
    expect(body.details.redis.status).toBe('up');
    expect(body.details.redis.mode).toBe(process.env.REDIS_URL ? undefined : 'in-memory');
  });

  it('ran the migrations into its own database', async () => {
    const rows = await database.query<{ name: string }>('SELECT name FROM tollgate_migrations');
    expect(rows.map((row) => row.name)).toContain('CreateCustomers1763884800000');
    const tables = await database.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1`,
      [database.schema],
    );
    expect(tables.map((t) => t.table_name)).toContain('customers');
    // Real Postgres: the test's own schema, not the shared public one.
    expect(database.schema === 'public').toBe(!usingRealPostgres);
  });

  it('serves the parsed tier catalog with numbers, not strings', async () => {
    const response = await checkedFetch(`${service.url}/v1/tiers`);
    expect(response.status).toBe(200);
    const { tiers } = await json(response);
    expect(tiers.map((tier: { name: string }) => tier.name)).toEqual(['free', 'pro', 'enterprise']);
    expect(tiers[0].includedCalls).toBe(1000);
    expect(tiers[0].rateLimits).toEqual([{ limit: 10, windowSeconds: 60 }]);
    expect(tiers[1].price.amountMinor).toBe(4900);
    expect(tiers[1].overage.unitPrice).toBe('0.002');
    expect(tiers[2].includedCalls).toBe('custom');
    expect(tiers[2].sla).toBe(99.9);
  });

  it('exports Prometheus metrics with a request histogram by route and status', async () => {
    await checkedFetch(`${service.url}/v1/tiers`);
    await checkedFetch(`${service.url}/no/such/route`);
    const text = await (await checkedFetch(`${service.url}/metrics`)).text();
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/v1\/tiers",status_code="200"\} \d+/);
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} \d+/);
    expect(text).toContain('process_cpu_user_seconds_total');
  });

  it('serves OpenAPI docs', async () => {
    expect((await checkedFetch(`${service.url}/docs`)).status).toBe(200);
    const document = await json(await checkedFetch(`${service.url}/docs/openapi.json`));
    expect(Object.keys(document.paths)).toContain('/v1/tiers');
  });

  it('answers unknown routes with the JSON error shape', async () => {
    const response = await checkedFetch(`${service.url}/nowhere`);
    expect(response.status).toBe(404);
    expect(await json(response)).toEqual({ error: 'not_found', message: 'Cannot GET /nowhere' });
  });

  it('turns bad input into a 400 with field-level details, never a 500', async () => {
    const post = (body: string) =>
      checkedFetch(`${service.url}/test/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

    const invalid = await post(JSON.stringify({ name: 5, count: 0, extra: true }));
    expect(invalid.status).toBe(400);
    const body = await json(invalid);
    expect(body.error).toBe('validation_failed');
    expect(body.details.map((detail: { field: string }) => detail.field).sort()).toEqual(['count', 'extra', 'name']);

    const broken = await post('{"name": ');
    expect(broken.status).toBe(400);
    expect((await json(broken)).error).toBe('invalid_json');

    const valid = await post(JSON.stringify({ name: 'a', count: 2 }));
    expect(valid.status).toBe(201);
  });

  it('hides internals of unexpected errors from callers but logs them', async () => {
    const response = await checkedFetch(`${service.url}/test/boom`);
    expect(response.status).toBe(500);
    expect(await json(response)).toEqual({ error: 'internal_error', message: 'Something went wrong on our side.' });
    expect(service.logs.text).toContain('"level":"error"');
  });

  it('writes JSON logs that carry the request id', async () => {
    const response = await checkedFetch(`${service.url}/v1/tiers`, { headers: { 'x-request-id': 'trace-abc-123' } });
    expect(response.headers.get('x-request-id')).toBe('trace-abc-123');
    const generated = (await checkedFetch(`${service.url}/v1/tiers`)).headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    const lines = service.logs.lines.map((line) => JSON.parse(line));
    const access = lines.find((line) => line.requestId === 'trace-abc-123');
    expect(access).toMatchObject({ level: 'info', method: 'GET', path: '/v1/tiers', status: 200, msg: 'request' });
    expect(lines.some((line) => line.requestId === generated)).toBe(true);
  });
});

describe('foundation: graceful shutdown', () => {
  it('finishes in-flight requests before closing', async () => {
    const database = await createTestDatabase();
    const service = await startTestApp(database, { imports: [ProbeModule] });
    try {
      const inFlight = checkedFetch(`${service.url}/test/slow`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const closing = service.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      releaseSlow();
      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await json(response)).toEqual({ finished: true });
      await closing;
      await expect(checkedFetch(`${service.url}/health/live`)).rejects.toThrow();
    } finally {
      await database.dispose();
    }
  });
});

describe('foundation: readiness when Redis is down', () => {
  it('reports 503 naming redis while the database stays up', async () => {
    const database = await createTestDatabase();
    const service = await startTestApp(database, { config: testConfig(database, { redisUrl: 'redis://127.0.0.1:1' }) });
    try {
      const response = await checkedFetch(`${service.url}/health/ready`);
      expect(response.status).toBe(503);
      const body = await json(response);
      expect(body.details.redis.status).toBe('down');
      expect(body.details.database.status).toBe('up');
      expect((await checkedFetch(`${service.url}/v1/tiers`)).status).toBe(200);
    } finally {
      await service.close();
      await database.dispose();
    }
  });
});
