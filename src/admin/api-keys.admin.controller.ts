import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeysService } from '../api-keys/index.js';
import { Public } from '../common/index.js';
import { ApiErrors } from '../common/api.js';
import { AdminGuard } from './admin.guard.js';
import { ApiKeyDto, ApiKeyPageDto, IssuedKeyDto } from '../api-keys/api.js';
import { CreateApiKeyDto, ListApiKeysQuery, requireChange, RotateApiKeyDto, UpdateApiKeyDto } from './dto/api-key.dto.js';

@ApiTags('admin: api keys')
@ApiBearerAuth('admin')
@Public()
@UseGuards(AdminGuard)
@Controller('v1/customers/:customerId/keys')
export class ApiKeysAdminController {
  constructor(@Inject(ApiKeysService) private readonly apiKeys: ApiKeysService) {}

  @Post()
  @ApiOperation({ summary: 'Create a key (any scopes). Its secret is in this response only. 409 key_limit_reached at the cap.' })
  @ApiCreatedResponse({ type: IssuedKeyDto, description: 'The key and its secret (shown once)' })
  @ApiErrors({ 404: ['customer_not_found'], 409: ['key_limit_reached'] })
  create(@Param('customerId') customerId: string, @Body() body: CreateApiKeyDto) {
    return this.apiKeys.create(customerId, body);
  }

  @Get()
  @ApiOperation({ summary: "A customer's keys, newest first (limit + cursor pagination)" })
  @ApiOkResponse({ type: ApiKeyPageDto })
  @ApiErrors({ 404: ['customer_not_found'] })
  list(@Param('customerId') customerId: string, @Query() query: ListApiKeysQuery) {
    return this.apiKeys.list(customerId, query);
  }

  @Get(':keyId')
  @ApiOperation({ summary: 'One key of a customer (never its secret)' })
  @ApiOkResponse({ type: ApiKeyDto })
  @ApiErrors({ 404: ['api_key_not_found'] })
  get(@Param('customerId') customerId: string, @Param('keyId') keyId: string) {
    return this.apiKeys.get(customerId, keyId);
  }

  @Patch(':keyId')
  @ApiOperation({
    summary: "Rename a key and/or change its controls (a field of controls left out stays, null removes it)",
    description: 'A control set here is locked for the key holder (/v1/me cannot change or remove it); removing it unlocks it. Every instance drops the cached key.',
  })
  @ApiOkResponse({ type: ApiKeyDto, description: 'The updated key' })
  @ApiErrors({ 404: ['api_key_not_found'] })
  update(@Param('customerId') customerId: string, @Param('keyId') keyId: string, @Body() body: UpdateApiKeyDto) {
    return this.apiKeys.update(customerId, keyId, requireChange(body));
  }

  @Post(':keyId/rotate')
  @ApiOperation({ summary: 'Issue a new secret (same name, mode, scopes, expiry); the old one works for gracePeriodSeconds (default 24 h)' })
  @ApiCreatedResponse({ type: IssuedKeyDto, description: 'The replacement key and its secret (shown once)' })
  @ApiErrors({ 400: ['key_revoked', 'key_expired'], 404: ['api_key_not_found'], 409: ['key_already_rotated'] })
  rotate(@Param('customerId') customerId: string, @Param('keyId') keyId: string, @Body() body: RotateApiKeyDto) {
    return this.apiKeys.rotate(customerId, keyId, body.gracePeriodSeconds);
  }

  @Delete(':keyId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke a key: it stops working on every instance within a second' })
  @ApiOkResponse({ type: ApiKeyDto, description: 'The revoked key' })
  @ApiErrors({ 404: ['api_key_not_found'] })
  revoke(@Param('customerId') customerId: string, @Param('keyId') keyId: string) {
    return this.apiKeys.revoke(customerId, keyId);
  }
}
