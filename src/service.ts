// `tollgate/service`: the billing service built on the library — its HTTP API for operators (admin), the developer
// portal, the operator console, the demo API and the bootstrap `main.ts` uses. Not loaded by `import 'tollgate'`.
export { AppModule, type AppModuleOptions } from './app.module.js';
export { AdminModule } from './admin/index.js';
export { BillingApiModule } from './billing/api.js';
export { UsageApiModule } from './metering/api.js';
export { NotificationsApiModule } from './notifications/api.js';
export { TiersApiModule } from './tiers/api.js';
export { VerifyApiModule } from './verify/api.js';
export { PortalModule } from './portal/index.js';
export { ConsoleModule } from './console/index.js';
export { DemoModule, DemoSeeder } from './demo/index.js';
export { APP_OPTIONS, configureApp, createApp, listen } from './bootstrap.js';
