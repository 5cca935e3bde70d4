import { Inject, Injectable, Optional } from '@nestjs/common';
import dns from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { hostOf, nonPublicRange, webhookUrlProblem } from './webhook-destination.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Every address a host name resolves to (like `dns.lookup(name, { all: true })`). Injectable so tests can map names. */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const WEBHOOK_HOST_RESOLVER = Symbol('tollgate.webhook-host-resolver');
/** Decides whether a customer's webhook may reach an address (a reason when not). Tests may widen it; production never does. */
export const WEBHOOK_ADDRESS_POLICY = Symbol('tollgate.webhook-address-policy');
export type AddressPolicy = (address: string) => string | null;

/** The system resolver, read from the `dns` module at call time. */
export const systemResolver: HostResolver = (hostname) =>
  new Promise((resolve, reject) => dns.lookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

/** Who set a webhook URL: the operator's may reach internal hosts, a customer's only public addresses. */
export type WebhookUrlSetBy = 'operator' | 'customer';

/**
 * A failed delivery attempt: `reason` is what the customer may see (generic); the message is the detail for the
 * operator (logs, admin API).
 */
export class DeliveryFailure extends Error {
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(detail);
  }
}

export const REFUSED_NOT_PUBLIC = 'destination refused: not a public address';

const TIMEOUT_MS = 10_000;
/** The answer's body is not used: read at most this much of it, then hang up. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * Sends one webhook POST. For a customer-set URL it resolves the name once, refuses the attempt if ANY address is
 * not public, and connects to exactly the checked addresses (a pinned lookup: no second resolution, so no DNS
 * rebinding window). TLS still verifies the certificate for the name (SNI) and `Host` names the URL's host.
 * Redirects are never followed: a 3xx is a failed attempt, for every URL.
 */
@Injectable()
export class WebhookSender {
  constructor(
    @Inject(WEBHOOK_HOST_RESOLVER) private readonly resolve: HostResolver,
    @Optional() @Inject(WEBHOOK_ADDRESS_POLICY) private readonly policy: AddressPolicy = nonPublicRange,
  ) {}

  async send(target: string, setBy: WebhookUrlSetBy, headers: Record<string, string>, body: string): Promise<void> {
    const deadline = Date.now() + TIMEOUT_MS;
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw new DeliveryFailure('destination refused: invalid URL', `not a URL: ${target.slice(0, 200)}`);
    }
    if (setBy === 'customer') {
      // URLs stored before the check existed, or set another way, are judged again at every attempt.
      const problem = webhookUrlProblem(target);
      if (problem) throw new DeliveryFailure(problem.includes('public') ? REFUSED_NOT_PUBLIC : 'destination refused: invalid URL', `${url.host}: ${problem}`);
    } else if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new DeliveryFailure('destination refused: invalid URL', `unsupported scheme ${url.protocol}`);
    }
    const host = hostOf(url);
    const addresses = await this.addressesOf(host, deadline);
    if (setBy === 'customer') {
      const refused = addresses.map((entry) => [entry.address, this.policy(entry.address)] as const).filter(([, reason]) => reason !== null);
      if (refused.length > 0) {
        throw new DeliveryFailure(REFUSED_NOT_PUBLIC, `${host} resolves to ${refused.map(([address, reason]) => `${address} (${reason})`).join(', ')}`);
      }
    }
    const status = await this.post(url, addresses, { ...headers, host: url.host, 'content-length': String(Buffer.byteLength(body)) }, body, deadline);
    if (status >= 300 && status < 400) throw new DeliveryFailure(`HTTP ${status} (redirects are not followed)`, `${url.host} answered ${status}`);
    if (status < 200 || status >= 300) throw new DeliveryFailure(`HTTP ${status}`, `${url.host} answered ${status}`);
  }

  private async addressesOf(host: string, deadline: number): Promise<ResolvedAddress[]> {
    const family = isIP(host);
    if (family !== 0) return [{ address: host, family }];
    let timer: NodeJS.Timeout | undefined;
    try {
      const addresses = await Promise.race([
        this.resolve(host),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new DeliveryFailure('timed out', `resolving ${host} timed out`)), Math.max(0, deadline - Date.now()));
        }),
      ]);
      if (addresses.length === 0) throw new Error('no addresses');
      return addresses;
    } catch (error) {
      if (error instanceof DeliveryFailure) throw error;
      throw new DeliveryFailure('DNS lookup failed', `resolving ${host}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  private post(url: URL, addresses: ResolvedAddress[], headers: Record<string, string>, body: string, deadline: number): Promise<number> {
    // The socket goes to an address checked above, never to a second answer of the resolver.
    const pinned: LookupFunction = (_hostname, options, callback) => {
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<number>((resolve, reject) => {
      let settled = false;
      const fail = (failure: DeliveryFailure) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        reject(failure);
      };
      const request = send(
        {
          protocol: url.protocol,
          host: hostOf(url),
          port: url.port || undefined,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          headers,
          lookup: pinned,
          agent: false,
        },
        (response: IncomingMessage) => {
          settled = true;
          clearTimeout(timer);
          resolve(response.statusCode ?? 0);
          let received = 0;
          response.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received > MAX_RESPONSE_BYTES) response.destroy();
          });
          response.on('error', () => undefined);
          // The status is all we need: the rest of the body may arrive until the attempt's deadline, then the socket closes.
          setTimeout(() => request.destroy(), Math.max(0, deadline - Date.now())).unref();
        },
      );
      const timer = setTimeout(() => fail(new DeliveryFailure('timed out', `${url.host} did not answer within ${TIMEOUT_MS} ms`)), Math.max(0, deadline - Date.now()));
      request.on('error', (error: NodeJS.ErrnoException) => fail(new DeliveryFailure(connectionReason(error), `${url.host}: ${error.code ?? ''} ${error.message}`.trim())));
      request.end(body);
    });
  }
}

function connectionReason(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  if (/^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_OSSL)/.test(code) || /certificate|tls|ssl/i.test(error.message)) return 'TLS handshake failed';
  return 'connection failed';
}
