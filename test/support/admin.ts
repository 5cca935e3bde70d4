import { call } from './http.js';
import { TEST_ADMIN_TOKEN } from './test-app.js';

/** Admin API shortcuts for tests: create a customer and a key over HTTP, as an operator would. */
export class AdminClient {
  constructor(
    private readonly url: string,
    private readonly token = TEST_ADMIN_TOKEN,
  ) {}

  request(method: string, path: string, body?: unknown) {
    return call(method, `${this.url}${path}`, { body, bearer: this.token });
  }

  async createCustomer(tier: string, extra: Record<string, unknown> = {}): Promise<{ id: string; [field: string]: any }> {
    const response = await this.request('POST', '/v1/customers', { name: `${tier} customer`, tier, ...extra });
    if (response.status !== 201) throw new Error(`create customer: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async createKey(customerId: string, body: Record<string, unknown> = {}): Promise<{ secret: string; key: any }> {
    const response = await this.request('POST', `/v1/customers/${customerId}/keys`, body);
    if (response.status !== 201) throw new Error(`create key: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body;
  }

  /** A customer on `tier` with one key; enterprise gets the overrides its `custom` values need. */
  async customerWithKey(tier: string): Promise<{ customerId: string; secret: string; keyId: string }> {
    const extra = tier === 'enterprise' ? { overrides: { includedCalls: 1_000_000, rateLimit: ['1000/min'] } } : {};
    const customer = await this.createCustomer(tier, extra);
    const { secret, key } = await this.createKey(customer.id);
    return { customerId: customer.id, secret, keyId: key.id };
  }
}
