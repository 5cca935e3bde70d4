import { createHash, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';

/**
 * Every comparison of a secret-derived value goes through here, in constant time. It is a provider so
 * tests can observe that authentication really takes this path.
 */
@Injectable()
export class ConstantTimeComparator {
  /** Two hex digests of equal length. */
  digestsEqual(a: string, b: string): boolean {
    const left = Buffer.from(a, 'hex');
    const right = Buffer.from(b, 'hex');
    return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
  }

  /** Two secrets of any length: compared through their SHA-256 digests, which have equal length. */
  secretsEqual(a: string, b: string): boolean {
    return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
  }
}
