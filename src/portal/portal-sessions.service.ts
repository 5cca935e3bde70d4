import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { DataSource } from 'typeorm';
import { API_KEY_REVOKED, type ApiKeyRevokedEvent } from '../api-keys/index.js';
import { ApiKeysService } from '../api-keys/index.js';
import { ConstantTimeComparator } from '../common/index.js';
import { BLOCKED_CUSTOMER_STATUSES, type CustomerEntity } from '../customers/index.js';
import { CustomersService } from '../customers/index.js';
import { InjectTollgateDataSource } from '../database/index.js';

export type SignInMethod = 'api_key' | 'email_link';

export interface PortalSession {
  customerId: string;
  method: SignInMethod;
  /** The key the session was opened with (revoking it ends the session); null for email links. */
  apiKeyId: string | null;
  /** Synchronizer token: every state-changing portal call must echo it in `X-CSRF-Token`. */
  csrfToken: string;
  createdAt: Date;
  expiresAt: Date;
}

export interface OpenedSession {
  /** Goes into the cookie only; the database keeps its SHA-256. */
  token: string;
  session: PortalSession;
}

/** How long a portal session lasts (absolute, from sign-in). */
export const SESSION_TTL_SECONDS = 12 * 3600;
/** How long an emailed sign-in link works. */
export const LOGIN_LINK_TTL_SECONDS = 15 * 60;
/** At most this many sign-in emails per account per link lifetime: the form cannot be used to flood an inbox. */
const LINKS_PER_WINDOW = 5;
const SWEEP_EVERY_MS = 10 * 60_000;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');
const randomToken = () => randomBytes(32).toString('base64url');

interface SessionRow {
  token_hash: string;
  customer_id: string;
  method: SignInMethod;
  api_key_id: string | null;
  csrf_token: string;
  created_at: Date | string;
  expires_at: Date | string;
}

/**
 * Server-side portal sessions and one-time email sign-in links, both stored as SHA-256 digests of random
 * tokens. Sessions are opened with an API key (authenticated by ApiKeysService, so revoked, expired and
 * suspended keys are refused exactly as on the API) or with an emailed link (single use, 15 minutes).
 */
@Injectable()
export class PortalSessionsService {
  private readonly logger = new Logger('PortalSessions');
  private lastSweep = 0;

  constructor(
    @InjectTollgateDataSource() private readonly dataSource: DataSource,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(ConstantTimeComparator) private readonly comparator: ConstantTimeComparator,
  ) {}

  /** A session for the holder of `secret`, or null when the key is not valid (for any reason). */
  async signInWithKey(secret: string): Promise<OpenedSession | null> {
    const result = await this.apiKeys.authenticate(secret.trim());
    if ('rejection' in result) return null;
    return this.open(result.consumer.customerId, 'api_key', result.consumer.key.id);
  }

  /** The live session of a cookie token, or null (unknown, expired, signed out). */
  async find(token: string): Promise<PortalSession | null> {
    if (!TOKEN.test(token)) return null;
    const hash = sha256(token);
    const rows = (await this.dataSource.query(
      `SELECT token_hash, customer_id, method, api_key_id, csrf_token, created_at, expires_at
         FROM portal_sessions WHERE token_hash = $1 AND expires_at > now()`,
      [hash],
    )) as SessionRow[];
    const row = rows[0];
    if (!row || !this.comparator.digestsEqual(row.token_hash, hash)) return null;
    return toSession(row);
  }

  async close(token: string): Promise<void> {
    if (!TOKEN.test(token)) return;
    await this.dataSource.query('DELETE FROM portal_sessions WHERE token_hash = $1', [sha256(token)]);
  }

  /** Ends every session of a customer (e.g. it was suspended). */
  async closeAllFor(customerId: string): Promise<void> {
    await this.dataSource.query('DELETE FROM portal_sessions WHERE customer_id = $1', [customerId]);
  }

  /** Whether an account may use the portal at all. */
  canSignIn(customer: CustomerEntity | null): customer is CustomerEntity {
    return customer !== null && !BLOCKED_CUSTOMER_STATUSES.has(customer.status);
  }

  /** A revoked key ends the sessions opened with it, on every instance (sessions live in the database). */
  @OnEvent(API_KEY_REVOKED, { async: true, promisify: true })
  async onKeyRevoked(event: ApiKeyRevokedEvent): Promise<void> {
    try {
      await this.dataSource.query('DELETE FROM portal_sessions WHERE api_key_id = $1', [event.keyId]);
    } catch (error) {
      this.logger.error(`could not end the portal sessions of revoked key ${event.keyId}: ${(error as Error).message}`);
    }
  }

  /**
   * One-time sign-in tokens for every active account of `email` (an address may own several), each to be
   * mailed as a link. Accounts that asked for too many links recently get none this time.
   */
  async issueLoginLinks(email: string): Promise<Array<{ customer: CustomerEntity; token: string }>> {
    const issued: Array<{ customer: CustomerEntity; token: string }> = [];
    for (const customer of await this.customers.findByEmail(email)) {
      if (!this.canSignIn(customer) || !customer.email) continue;
      const token = randomToken();
      // The throttle is checked by the insert itself: no round trip between counting and writing.
      const rows = (await this.dataSource.query(
        `INSERT INTO portal_login_tokens (token_hash, customer_id, email, expires_at)
         SELECT $1, $2, $3, now() + make_interval(secs => $4)
          WHERE (SELECT count(*) FROM portal_login_tokens
                  WHERE customer_id = $2 AND created_at > now() - make_interval(secs => $4)) < $5
         RETURNING customer_id`,
        [sha256(token), customer.id, customer.email, LOGIN_LINK_TTL_SECONDS, LINKS_PER_WINDOW],
      )) as unknown[];
      if (rows.length > 0) issued.push({ customer, token });
      else this.logger.warn(`sign-in link for customer ${customer.id} not sent: ${LINKS_PER_WINDOW} already sent in the last ${LOGIN_LINK_TTL_SECONDS / 60} minutes`);
    }
    this.sweep();
    return issued;
  }

  /** Spends an emailed token (once, before it expires) and opens a session; null when it is not valid. */
  async redeemLoginLink(token: string): Promise<OpenedSession | null> {
    if (!TOKEN.test(token)) return null;
    // TypeORM answers an UPDATE … RETURNING with [rows, affected]. Setting used_at here is what makes it single use.
    const [rows] = (await this.dataSource.query(
      `UPDATE portal_login_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING customer_id, email`,
      [sha256(token)],
    )) as [Array<{ customer_id: string; email: string }>, number];
    const spent = rows[0];
    if (!spent) return null;
    const customer = await this.customers.find(spent.customer_id);
    // The address the link was sent to must still be the account's.
    if (!this.canSignIn(customer) || customer.email?.toLowerCase() !== spent.email.toLowerCase()) return null;
    return this.open(customer.id, 'email_link', null);
  }

  private async open(customerId: string, method: SignInMethod, apiKeyId: string | null): Promise<OpenedSession> {
    const token = randomToken();
    const csrfToken = randomToken();
    const rows = (await this.dataSource.query(
      `INSERT INTO portal_sessions (token_hash, customer_id, method, api_key_id, csrf_token, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
       RETURNING token_hash, customer_id, method, api_key_id, csrf_token, created_at, expires_at`,
      [sha256(token), customerId, method, apiKeyId, csrfToken, SESSION_TTL_SECONDS],
    )) as SessionRow[];
    this.sweep();
    return { token, session: toSession(rows[0]) };
  }

  /** Drops expired sessions and old links now and then (bounded tables without a scheduler). */
  private sweep(): void {
    const now = Date.now();
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    void Promise.all([
      this.dataSource.query('DELETE FROM portal_sessions WHERE expires_at < now()'),
      this.dataSource.query(`DELETE FROM portal_login_tokens WHERE expires_at < now() - interval '1 day'`),
    ]).catch((error: unknown) => this.logger.warn(`could not sweep expired portal sessions: ${(error as Error).message}`));
  }
}

function toSession(row: SessionRow): PortalSession {
  return {
    customerId: row.customer_id,
    method: row.method,
    apiKeyId: row.api_key_id,
    csrfToken: row.csrf_token,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
  };
}
