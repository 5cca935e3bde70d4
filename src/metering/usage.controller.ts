import { Controller, Get, Inject, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminGuard } from '../admin/index.js';
import { Public } from '../common/index.js';
import { ApiErrors } from '../common/api.js';
import { ApiUsagePeriod, UsageReportDto } from './usage.dto.js';
import { UsageService } from './usage.service.js';

@ApiTags('usage')
@ApiBearerAuth('admin')
@Public()
@UseGuards(AdminGuard)
@Controller('v1/customers/:customerId/usage')
export class UsageController {
  constructor(@Inject(UsageService) private readonly usage: UsageService) {}

  @Get()
  @ApiOperation({ summary: "A customer's usage per meter in a period (total, included, remaining, overage, % used) and by day" })
  @ApiUsagePeriod()
  @ApiOkResponse({ type: UsageReportDto })
  @ApiErrors({ 404: ['customer_not_found'] })
  report(@Param('customerId') customerId: string, @Query('period') period?: string) {
    return this.usage.report(customerId, period ?? 'current');
  }
}
