import { loadOptionalPeer, MissingPackageError } from './optional-peer.js';

describe('loadOptionalPeer', () => {
  it('names the missing package, what it is for and how to install it', async () => {
    const name = 'tollgate-absent-driver'; // a variable: the type checker must not resolve it
    const error = await loadOptionalPeer(name, 'the absent feature', () => import(name)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingPackageError);
    expect(error).toMatchObject({ packageName: name, neededFor: 'the absent feature' });
    expect((error as Error).message).toBe(
      'The "tollgate-absent-driver" package is missing. Install it to use the absent feature: npm install tollgate-absent-driver',
    );
  });

  it('passes on a failure of something the package itself imports', async () => {
    const inner = Object.assign(new Error("Cannot find package 'pg-native' imported from /app/node_modules/pg/lib/native.js"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(loadOptionalPeer('pg', 'PostgreSQL', () => Promise.reject(inner))).rejects.toBe(inner);
  });

  it('passes on other errors as they are', async () => {
    const broken = new SyntaxError('Unexpected token');
    await expect(loadOptionalPeer('stripe', 'Stripe', () => Promise.reject(broken))).rejects.toBe(broken);
  });

  it('returns the module when it is installed', async () => {
    const yaml = await loadOptionalPeer('yaml', 'parsing', () => import('yaml'));
    expect(typeof yaml.parse).toBe('function');
  });
});
