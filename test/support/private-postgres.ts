import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A PostgreSQL server of the test's own (a new cluster on a free port, via the Debian cluster tools CI uses), for
 * tests that must stop or start a database: the shared one is never touched.
 */
export interface PrivatePostgres {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Stops and deletes the cluster. */
  drop(): Promise<void>;
}

/** Creates the cluster, stopped. */
export async function createPrivatePostgres(port: number): Promise<PrivatePostgres> {
  const version = readdirSync('/etc/postgresql').sort().at(-1)!;
  const name = `tollgate_${randomBytes(4).toString('hex')}`;
  await run('pg_createcluster', [version, name, '-p', String(port), '--', '--auth-host=trust', '--auth-local=trust']);
  const ctl = (action: string) => run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, action]).then(() => undefined);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () => ctl('start'),
    stop: () => ctl('stop'),
    drop: () => run('pg_dropcluster', ['--stop', version, name]).then(() => undefined),
  };
}
