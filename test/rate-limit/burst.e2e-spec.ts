import { AdminClient } from '../support/admin.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call } from '../support/http.js';
import { type PrivateRedis, startPrivateRedis } from '../support/redis-server.js';
import { startTestApp, testConfig, type TestApp } from '../support/test-app.js';
import { RateLimitProbeModule } from './rate-limit-probe.module.js';

// At product defaults: the seed catalog's free tier (10/min) and the default store settings. The burst makes this
// process' event loop lag far beyond any per-request budget; the store's answer must still decide every request.
const BURST = 200;
const ROUNDS = 3;
const FREE_LIMIT = 10;
/** GCRA gives one unit back every window/limit (6 s for 10/min): a burst spread over longer may earn more. */
const REFILL_MS = 60_000 / FREE_LIMIT;

interface Round {
  admitted: number;
  refused: number;
  other: number[];
  /** The most the limit may admit in this round: the whole budget, plus what GCRA refilled while the burst lasted. */
  allowance: number;
}

async function burst(instances: TestApp[]): Promise<Round> {
  const { secret } = await new AdminClient(instances[0].url).customerWithKey('free');
  const started = performance.now();
  const responses = await Promise.all(
    Array.from({ length: BURST }, (_, i) => call('GET', `${instances[i % instances.length].url}/v1/basic/rl`, { apiKey: secret })),
  );
  const statuses = responses.map((response) => response.status);
  const allowance = FREE_LIMIT + Math.floor((performance.now() - started) / REFILL_MS);
  return {
    allowance,
    admitted: statuses.filter((status) => status === 200).length,
    refused: statuses.filter((status) => status === 429).length,
    other: statuses.filter((status) => status !== 200 && status !== 429),
  };
}

async function expectExactRounds(instances: TestApp[]): Promise<void> {
  const rounds = [];
  // One fresh customer per round: each round starts from a whole budget.
  for (let round = 0; round < ROUNDS; round++) rounds.push(await burst(instances));
  process.stdout.write(`burst rounds on ${instances.length} instance(s): ${JSON.stringify(rounds)}\n`);
  // On a busy box a burst can outlast the refill interval; then exactly the refilled units may pass, never more.
  expect(rounds.map(({ admitted, refused, other, allowance }) => ({ atLeastTheBudget: admitted >= FREE_LIMIT, withinAllowance: admitted <= allowance, everyOtherRefused: admitted + refused === BURST, other }))).toEqual(
    Array.from({ length: ROUNDS }, () => ({ atLeastTheBudget: true, withinAllowance: true, everyOtherRefused: true, other: [] })),
  );
}

describe(`a burst of ${BURST} concurrent requests on a free key, one instance (${process.env.REDIS_URL ? 'Redis' : 'in-memory store'})`, () => {
  let database: TestDatabase;
  let service: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    service = await startTestApp(database, { imports: [RateLimitProbeModule] });
  });

  afterAll(async () => {
    await service.close();
    await database.dispose();
  });

  it(`admits exactly ${FREE_LIMIT}, ${ROUNDS} rounds in a row`, async () => {
    await expectExactRounds([service]);
  });
});

describe(`a burst of ${BURST} concurrent requests on a free key, two instances sharing ${process.env.REDIS_URL ? 'REDIS_URL' : 'a private Redis'}`, () => {
  let database: TestDatabase;
  let privateRedis: PrivateRedis | null = null;
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase();
    if (!process.env.REDIS_URL) privateRedis = await startPrivateRedis();
    const redisUrl = process.env.REDIS_URL ?? privateRedis!.url;
    const config = testConfig(database, { redisUrl });
    first = await startTestApp(database, { config, imports: [RateLimitProbeModule] });
    second = await startTestApp(database, { config: testConfig(database, { redisUrl, redisPrefix: config.redisPrefix }), imports: [RateLimitProbeModule] });
  });

  afterAll(async () => {
    await second.close();
    await first.close();
    await privateRedis?.stop();
    await database.dispose();
  });

  it(`admits exactly ${FREE_LIMIT} across both, ${ROUNDS} rounds in a row`, async () => {
    await expectExactRounds([first, second]);
  });
});
