import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { CustomersService } from '../customers/index.js';
import { SecretVault } from './secret-vault.js';

/** Each customer's webhook signing secret, sealed at rest; made on first use. */
@Injectable()
export class WebhookSecrets {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(SecretVault) private readonly vault: SecretVault,
  ) {}

  async current(customerId: string): Promise<string> {
    const sealed = await this.customers.webhookSecret(customerId);
    return sealed ? this.vault.open(sealed) : (await this.rotate(customerId)).secret;
  }

  /** A new signing secret for the customer's webhooks, shown once. */
  async rotate(customerId: string): Promise<{ secret: string }> {
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    await this.customers.setWebhookSecret(customerId, this.vault.seal(secret));
    return { secret };
  }
}
