import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { SecretBox } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';

/**
 * Encrypts webhook secrets at rest. The key is TOLLGATE_ENCRYPTION_KEY; without it, a random key kept in
 * `<data dir>/encryption.key` (mode 0600) — fine for one instance, but several instances must share the key.
 */
@Injectable()
export class SecretVault {
  private readonly box: SecretBox;

  constructor(@Inject(TollgateConfig) config: TollgateConfig) {
    this.box = new SecretBox(config.encryptionKey ?? SecretVault.keyFile(join(config.dataDir, 'encryption.key'), config.embedded));
  }

  seal(secret: string): string {
    return this.box.seal(secret);
  }

  open(sealed: string): string {
    return this.box.open(sealed);
  }

  private static keyFile(path: string, embedded: boolean): string {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
      if (!embedded) new Logger('SecretVault').warn(`TOLLGATE_ENCRYPTION_KEY is unset: created ${path}; every instance needs the same key`);
    }
    return readFileSync(path, 'utf8').trim();
  }
}
