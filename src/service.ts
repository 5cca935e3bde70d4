// `tollgate/service`: the billing service built on the library — its HTTP API for operators (admin), the developer
// portal, the demo API and the bootstrap `main.ts` uses. Not loaded by `import 'tollgate'`.
export { AppModule, type AppModuleOptions } from './app.module.js';
export { AdminModule } from './admin/admin.module.js';
export { PortalModule } from './portal/portal.module.js';
export { DemoModule } from './demo/demo.module.js';
export { DemoSeeder } from './demo/demo.seeder.js';
export { APP_OPTIONS, configureApp, createApp, listen } from './bootstrap.js';
