import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeysService } from '../api-keys/index.js';
import { Public } from '../common/index.js';
import { AdminGuard } from './admin.guard.js';
import { CreateApiKeyDto, ListApiKeysQuery, RotateApiKeyDto, UpdateApiKeyDto } from './dto/api-key.dto.js';

@ApiTags('admin: api keys')
@ApiBearerAuth('admin')
@Public()
@UseGuards(AdminGuard)
@Controller('v1/customers/:customerId/keys')
export class ApiKeysAdminController {
  constructor(@Inject(ApiKeysService) private readonly apiKeys: ApiKeysService) {}

  @Post()
  @ApiOperation({ summary: 'Create a key (any scopes). Its secret is in this response only. 409 key_limit_reached at the cap.' })
  create(@Param('customerId') customerId: string, @Body() body: CreateApiKeyDto) {
    return this.apiKeys.create(customerId, body);
  }

  @Get()
  @ApiOperation({ summary: "A customer's keys, newest first (limit + cursor pagination)" })
  list(@Param('customerId') customerId: string, @Query() query: ListApiKeysQuery) {
    return this.apiKeys.list(customerId, query);
  }

  @Get(':keyId')
  get(@Param('customerId') customerId: string, @Param('keyId') keyId: string) {
    return this.apiKeys.get(customerId, keyId);
  }

  @Patch(':keyId')
  @ApiOperation({ summary: 'Rename a key' })
  rename(@Param('customerId') customerId: string, @Param('keyId') keyId: string, @Body() body: UpdateApiKeyDto) {
    return this.apiKeys.rename(customerId, keyId, body.name);
  }

  @Post(':keyId/rotate')
  @ApiOperation({ summary: 'Issue a new secret (same name, mode, scopes, expiry); the old one works for gracePeriodSeconds (default 24 h)' })
  rotate(@Param('customerId') customerId: string, @Param('keyId') keyId: string, @Body() body: RotateApiKeyDto) {
    return this.apiKeys.rotate(customerId, keyId, body.gracePeriodSeconds);
  }

  @Delete(':keyId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a key: it stops working on every instance within a second' })
  revoke(@Param('customerId') customerId: string, @Param('keyId') keyId: string) {
    return this.apiKeys.revoke(customerId, keyId);
  }
}
