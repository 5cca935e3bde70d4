import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/index.js';
import { CustomersModule } from '../customers/index.js';
import { AdminGuard } from './admin.guard.js';
import { ApiKeysAdminController } from './api-keys.admin.controller.js';
import { CustomersAdminController } from './customers.admin.controller.js';

/** The operators' customer and key API (admin token). Other modules mount their own operator controllers. */
@Module({
  imports: [CustomersModule, ApiKeysModule],
  controllers: [CustomersAdminController, ApiKeysAdminController],
  providers: [AdminGuard],
})
export class AdminModule {}
