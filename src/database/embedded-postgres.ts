import { Inject } from '@nestjs/common';
import type { PGlite } from '@electric-sql/pglite';

/** The embedded database used when DATABASE_URL is unset; null on real Postgres. */
export interface EmbeddedPostgres {
  pglite: PGlite;
  /** False when the instance is shared (tests run two apps on one database) and closed by its owner. */
  closeOnShutdown: boolean;
}
export const EmbeddedPostgres = Symbol('EmbeddedPostgres');
export const InjectEmbeddedPostgres = () => Inject(EmbeddedPostgres);
