import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { ConstantTimeComparator } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { InjectTollgateDataSource } from '../database/index.js';

export interface ConsoleSession {
  /** Synchronizer token: every state-changing console call must echo it in `X-CSRF-Token`. */
  csrfToken: string;
  expiresAt: Date;
}

export interface OpenedConsoleSession {
  /** Goes into the cookie only; the database keeps its SHA-256. */
  token: string;
  session: ConsoleSession;
}

/** Shorter than a portal session: an operator session can change every customer's billing. */
export const CONSOLE_SESSION_TTL_SECONDS = 8 * 3600;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const randomToken = () => randomBytes(32).toString('base64url');

/** Operator sessions opened with the admin token (the admin API's, compared in constant time), stored hashed. */
@Injectable()
export class ConsoleSessionsService {
  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  /** A session when `adminToken` is the service's admin token, else null. */
  async signIn(adminToken: string): Promise<OpenedConsoleSession | null> {
    const presented = adminToken.trim();
    if (!presented || !this.comparator.secretsEqual(presented, this.config.adminToken)) return null;
    await this.dataSource.query(`DELETE FROM console_sessions WHERE expires_at < now()`);
    const token = randomToken();
    const session = { csrfToken: randomToken(), expiresAt: new Date(Date.now() + CONSOLE_SESSION_TTL_SECONDS * 1000) };
    await this.dataSource.query(`INSERT INTO console_sessions (token_hash, csrf_token, expires_at) VALUES ($1, $2, $3)`, [
      sha256(token),
      session.csrfToken,
      session.expiresAt.toISOString(),
    ]);
    return { token, session };
  }

  /** The live session of a cookie token, or null (malformed, unknown, expired, signed out). */
  async find(token: string): Promise<ConsoleSession | null> {
    if (!TOKEN.test(token)) return null;
    const rows = (await this.dataSource.query(`SELECT csrf_token, expires_at FROM console_sessions WHERE token_hash = $1 AND expires_at > now()`, [
      sha256(token),
    ])) as Array<{ csrf_token: string; expires_at: Date | string }>;
    return rows[0] ? { csrfToken: rows[0].csrf_token, expiresAt: new Date(rows[0].expires_at) } : null;
  }

  async close(token: string): Promise<void> {
    if (TOKEN.test(token)) await this.dataSource.query(`DELETE FROM console_sessions WHERE token_hash = $1`, [sha256(token)]);
  }
}
