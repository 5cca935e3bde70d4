import { Body, Controller, Get, HttpCode, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/index.js';
import { CustomersService } from '../customers/index.js';
import { AdminGuard } from './admin.guard.js';
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
  async create(@Body() body: CreateCustomerDto) {
    return this.customers.view(await this.customers.create(body));
  }

  @Get()
  @ApiOperation({ summary: 'List customers (filter by tier or status; cursor pagination)' })
  async list(@Query() query: ListCustomersQuery) {
    const page = await this.customers.list(query);
    return { data: page.data.map((customer) => this.customers.view(customer)), nextCursor: page.nextCursor };
  }

  @Get(':customerId')
  async get(@Param('customerId') customerId: string) {
    return this.customers.view(await this.customers.get(customerId));
  }

  @Patch(':customerId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Change name, tier, status, overrides or webhook URL' })
  async update(@Param('customerId') customerId: string, @Body() body: UpdateCustomerDto) {
    return this.customers.view(await this.customers.update(customerId, body));
  }
}
