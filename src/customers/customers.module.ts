import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { TOLLGATE_CONNECTION } from '../database/index.js';
import { TiersModule } from '../tiers/index.js';
import { CustomerEntity } from './customer.entity.js';
import { CustomersService } from './customers.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([CustomerEntity], TOLLGATE_CONNECTION), TiersModule],
  providers: [CustomersService],
  exports: [CustomersService],
})
export class CustomersModule {}
