// The billing module's HTTP API, for the billing service (`tollgate/service`) only: the library's surface is index.ts,
// which must not load controllers (they bring @nestjs/swagger and the admin guard).
export { BillingApiModule } from './billing-api.module.js';
