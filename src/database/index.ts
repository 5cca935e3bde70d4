// The database module's public surface: other folders import only from here (enforced by the boundary lint).
export { databaseGate, databaseUnavailable } from './database-gate.js';
export { DatabaseReadiness } from './database-readiness.js';
export { DatabaseModule } from './database.module.js';
export { queryPrepared } from './prepared-query.js';
export { InjectTollgateDataSource, InjectTollgateRepository, TOLLGATE_CONNECTION } from './tollgate-connection.js';
