export const API_KEY_REVOKED = 'api_key.revoked';
export const API_KEY_ROTATED = 'api_key.rotated';

export interface ApiKeyRevokedEvent {
  customerId: string;
  keyId: string;
  prefix: string;
  at: Date;
}

export interface ApiKeyRotatedEvent {
  customerId: string;
  keyId: string;
  newKeyId: string;
  oldKeyExpiresAt: Date;
}
