import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';

/**
 * Tollgate's TypeORM connection has a name of its own so a host app's default TypeORM connection
 * (if it has one) and ours never collide.
 */
export const TOLLGATE_CONNECTION = 'tollgate';

export const InjectTollgateDataSource = () => InjectDataSource(TOLLGATE_CONNECTION);
export const InjectTollgateRepository = (entity: Parameters<typeof InjectRepository>[0]) => InjectRepository(entity, TOLLGATE_CONNECTION);
