import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/index.js';
import { CustomersService } from '../customers/index.js';
import { ApiErrors } from '../common/api.js';
import { AdminGuard } from './admin.guard.js';
import { CustomerDto, CustomerPageDto } from '../customers/api.js';
import { CreateCustomerDto, ListCustomersQuery, UpdateCustomerDto } from './dto/customer.dto.js';

@ApiTags('admin: customers')
@ApiBearerAuth('admin')
@Public()
@UseGuards(AdminGuard)
@Controller('v1/customers')
export class CustomersAdminController {
  constructor(@Inject(CustomersService) private readonly customers: CustomersService) {}

  @Post()
  @ApiOperation({ summary: 'Create a customer on a tier (custom tier values need overrides)' })
  @ApiCreatedResponse({ type: CustomerDto, description: 'The new customer' })
  @ApiErrors({ 409: ['conflict'] })
  async create(@Body() body: CreateCustomerDto) {
    return this.customers.view(await this.customers.create(body));
  }

  @Get()
  @ApiOperation({ summary: 'List customers (filter by tier or status; cursor pagination)' })
  @ApiOkResponse({ type: CustomerPageDto })
  async list(@Query() query: ListCustomersQuery) {
    const page = await this.customers.list(query);
    return { data: page.data.map((customer) => this.customers.view(customer)), nextCursor: page.nextCursor };
  }

  @Get(':customerId')
  @ApiOperation({ summary: 'A customer, with its effective limits and current period' })
  @ApiOkResponse({ type: CustomerDto })
  @ApiErrors({ 404: ['customer_not_found'] })
  async get(@Param('customerId') customerId: string) {
    return this.customers.view(await this.customers.get(customerId));
  }

  @Patch(':customerId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Change name, tier, status, overrides or webhook URL' })
  @ApiOkResponse({ type: CustomerDto, description: 'The changed customer' })
  @ApiErrors({ 404: ['customer_not_found'], 409: ['conflict'] })
  async update(@Param('customerId') customerId: string, @Body() body: UpdateCustomerDto) {
    return this.customers.view(await this.customers.update(customerId, body));
  }
}
