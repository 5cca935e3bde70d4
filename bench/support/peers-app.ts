// The peers of Tollgate's rate-limit path: what a Nest user would install instead, each in a tiny Nest app of its
// own (two ThrottlerModule.forRoot in one app would share their global tokens), booted inside the bench server
// process by server.ts when BENCH_PEERS=1. Each is set up as its own documentation shows (bench/README.md cites it).
import 'reflect-metadata';
import {
  type CanActivate,
  Controller,
  type DynamicModule,
  type ExecutionContext,
  Get,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Module,
  UseGuards,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Throttle, ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { Request, Response } from 'express';
import { Redis } from 'ioredis';
import rateLimiterFlexible from 'rate-limiter-flexible';

const { RateLimiterRedis } = rateLimiterFlexible;

export type PeerKind = 'throttler-memory' | 'throttler-redis' | 'rlf-redis';
export const PEER_KINDS: PeerKind[] = ['throttler-memory', 'throttler-redis', 'rlf-redis'];

/** Far above what a run sends (a few thousand req/s for a minute), so every request takes the whole path. */
export const PEER_LOAD_LIMIT = 1_000_000_000;
/** The exactness probe's limit: `PEER_EXACT_LIMIT` per minute on a route of its own (a fresh key). */
export const PEER_EXACT_LIMIT = 10;
const WINDOW_MS = 60_000;

const BODY = { ok: true, service: 'bench' };

/** @nestjs/throttler as its docs recommend: ThrottlerModule.forRoot + ThrottlerGuard as APP_GUARD (every route). */
@Controller('bench')
class ThrottlerController {
  @Get('limited')
  limited(): typeof BODY {
    return BODY;
  }

  /** The route-level override the docs show: @Throttle({ default: { limit, ttl } }). */
  @Get('exact')
  @Throttle({ default: { limit: PEER_EXACT_LIMIT, ttl: WINDOW_MS } })
  exact(): typeof BODY {
    return BODY;
  }
}

/** Where the rate-limiter-flexible guard finds its limiters. */
const RLF_LIMITERS = Symbol('rlf limiters');
interface RlfLimiters {
  load: InstanceType<typeof RateLimiterRedis>;
  exact: InstanceType<typeof RateLimiterRedis>;
}

/**
 * rate-limiter-flexible in a small Nest guard, following its wiki (Redis page, Express middleware): consume one
 * point per request keyed by the client IP; a rejection that is not an Error means "no points left" → 429 with
 * Retry-After; an Error is a store fault. The exact route has its own limiter (own keyPrefix, 10 points per 60 s).
 */
@Injectable()
class RlfGuard implements CanActivate {
  constructor(@Inject(RLF_LIMITERS) private readonly limiters: RlfLimiters) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<Request>();
    const limiter = context.getHandler().name === 'exact' ? this.limiters.exact : this.limiters.load;
    try {
      const result = await limiter.consume(request.ip ?? 'unknown');
      const response = http.getResponse<Response>();
      response.setHeader('X-RateLimit-Limit', limiter.points);
      response.setHeader('X-RateLimit-Remaining', result.remainingPoints);
      return true;
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      const secs = Math.round((rejection as { msBeforeNext: number }).msBeforeNext / 1000) || 1;
      http.getResponse<Response>().setHeader('Retry-After', String(secs));
      throw new HttpException('Too Many Requests', HttpStatus.TOO_MANY_REQUESTS);
    }
  }
}

@Controller('bench')
class RlfController {
  /** The lean app's own bare endpoint: shows what this app costs without any limiter (informational row). */
  @Get('bare')
  bare(): typeof BODY {
    return BODY;
  }

  @Get('limited')
  @UseGuards(RlfGuard)
  limited(): typeof BODY {
    return BODY;
  }

  @Get('exact')
  @UseGuards(RlfGuard)
  exact(): typeof BODY {
    return BODY;
  }
}

@Module({})
class PeerAppModule {
  /** `clients` collects the Redis clients it creates, for the caller to close after the app. */
  static forRoot(kind: PeerKind, redisUrl: string, prefix: string, clients: Redis[]): DynamicModule {
    if (kind === 'rlf-redis') {
      // The wiki's client: ioredis with the offline queue off (and an error handler).
      const client = new Redis(redisUrl, { enableOfflineQueue: false });
      client.on('error', (error: Error) => process.stderr.write(`rlf redis: ${error.message}\n`));
      clients.push(client);
      const limiters: RlfLimiters = {
        load: new RateLimiterRedis({ storeClient: client, keyPrefix: `${prefix}:rlflx`, points: PEER_LOAD_LIMIT, duration: WINDOW_MS / 1000 }),
        exact: new RateLimiterRedis({ storeClient: client, keyPrefix: `${prefix}:rlflx-exact`, points: PEER_EXACT_LIMIT, duration: WINDOW_MS / 1000 }),
      };
      return {
        module: PeerAppModule,
        controllers: [RlfController],
        providers: [RlfGuard, { provide: RLF_LIMITERS, useValue: limiters }],
      };
    }
    // The storage's README: `storage: new ThrottlerStorageRedisService(new Redis(...))`. ioredis's keyPrefix keeps
    // its keys under the run's prefix, so the run's cleanup deletes them.
    const client = kind === 'throttler-redis' ? new Redis(redisUrl, { keyPrefix: `${prefix}:throttler:` }) : null;
    if (client) clients.push(client);
    return {
      module: PeerAppModule,
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [{ ttl: WINDOW_MS, limit: PEER_LOAD_LIMIT }],
          ...(client && { storage: new ThrottlerStorageRedisService(client) }),
        }),
      ],
      controllers: [ThrottlerController],
      providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
    };
  }
}

export interface PeerApp {
  port: number;
  close(): Promise<void>;
}

/** Boots one peer app on a loopback port (Express, as the Tollgate bench app). */
export async function startPeerApp(kind: PeerKind, redisUrl: string, prefix: string): Promise<PeerApp> {
  const clients: Redis[] = [];
  const close = async (app?: NestExpressApplication) => {
    await app?.close();
    await Promise.allSettled(clients.map((client) => client.quit()));
  };
  let app: NestExpressApplication | undefined;
  try {
    app = await NestFactory.create<NestExpressApplication>(PeerAppModule.forRoot(kind, redisUrl, prefix, clients), { logger: ['error', 'warn'] });
    app.disable('x-powered-by');
    await app.listen(0, '127.0.0.1');
    const address = app.getHttpServer().address();
    if (typeof address !== 'object' || !address) throw new Error(`the ${kind} peer app has no TCP address`);
    const started = app;
    return { port: address.port, close: () => close(started) };
  } catch (error) {
    await close(app);
    throw error;
  }
}
