import { call, type CallResult } from './http.js';

/** A signed-in portal session over plain HTTP (no browser): the cookie plus the CSRF token every change needs. */
export class PortalClient {
  private constructor(
    private readonly url: string,
    private readonly cookie: string,
    private readonly csrf: string,
  ) {}

  /** Signs in with an API key. */
  static withKey(url: string, apiKey: string): Promise<PortalClient> {
    return PortalClient.open(url, '/portal/api/login', { apiKey });
  }

  /** Signs in with an emailed link's token. */
  static withEmailToken(url: string, token: string): Promise<PortalClient> {
    return PortalClient.open(url, '/portal/api/login/email/complete', { token });
  }

  request(method: string, path: string, body?: unknown): Promise<CallResult> {
    return call(method, `${this.url}/portal/api${path}`, { body, headers: { cookie: this.cookie, 'x-csrf-token': this.csrf } });
  }

  private static async open(url: string, path: string, body: unknown): Promise<PortalClient> {
    const response = await call('POST', `${url}${path}`, { body });
    if (response.status !== 200) throw new Error(`portal sign-in: ${response.status} ${JSON.stringify(response.body)}`);
    const cookie = /tg_portal_session=[^;]+/.exec(response.headers.get('set-cookie') ?? '')?.[0];
    if (!cookie) throw new Error('portal sign-in set no session cookie');
    return new PortalClient(url, cookie, response.body.csrfToken as string);
  }
}
