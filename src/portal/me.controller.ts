import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { CreateApiKeyDto, ListApiKeysQuery, requireChange, RotateApiKeyDto, UpdateApiKeyDto } from '../admin/index.js';
import { ApiKeyGuard } from '../api-keys/index.js';
import { ApiKeysService, holderGrantor } from '../api-keys/index.js';
import { type Consumer, CurrentConsumer } from '../api-keys/index.js';
import { CustomersService } from '../customers/index.js';
import { UsageService } from '../metering/index.js';
import { NotificationsService } from '../notifications/index.js';
import { ApiKeyDto, ApiKeyPageDto, IssuedKeyDto } from '../api-keys/api.js';
import { ApiErrors, RATE_LIMITED_ERRORS } from '../common/api.js';
import { ApiUsagePeriod, UsageReportDto } from '../metering/api.js';
import { NotificationPageDto, WebhookSecretDto } from '../notifications/api.js';
import { MeDto } from './me.dto.js';
import { MeRateLimitGuard } from './portal-rate-limit.guards.js';

/** The key holder's own account: everything is scoped to the customer of the presented key. */
@ApiTags('me')
@ApiSecurity('api-key')
@ApiErrors(RATE_LIMITED_ERRORS)
@UseGuards(ApiKeyGuard, MeRateLimitGuard)
@Controller('v1/me')
export class MeController {
  constructor(
    @Inject(CustomersService) private readonly customers: CustomersService,
    @Inject(ApiKeysService) private readonly apiKeys: ApiKeysService,
    @Inject(UsageService) private readonly usage: UsageService,
    @Inject(NotificationsService) private readonly notifications: NotificationsService,
  ) {}

  @Get('notifications')
  @ApiOperation({ summary: 'Your notifications, newest first' })
  @ApiOkResponse({ type: NotificationPageDto })
  async notificationsList(@CurrentConsumer() consumer: Consumer) {
    return { data: await this.notifications.list(consumer.customerId, { customerOnly: true }) };
  }

  @Post('webhook-secret')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate your webhook signing secret; the new one is shown once' })
  @ApiOkResponse({ type: WebhookSecretDto })
  rotateWebhookSecret(@CurrentConsumer() consumer: Consumer) {
    return this.notifications.rotateWebhookSecret(consumer.customerId);
  }

  @Get('usage')
  @ApiOperation({ summary: 'Your usage per meter this period (or ?period=YYYY-MM), with a daily series' })
  @ApiOkResponse({ type: UsageReportDto })
  @ApiUsagePeriod()
  usageReport(@CurrentConsumer() consumer: Consumer, @Query('period') period?: string) {
    return this.usage.report(consumer.customerId, period ?? 'current');
  }

  @Get()
  @ApiOperation({ summary: 'Your account, tier and effective limits' })
  @ApiOkResponse({ type: MeDto })
  async me(@CurrentConsumer() consumer: Consumer) {
    const customer = this.customers.view(await this.customers.get(consumer.customerId));
    return {
      id: customer.id,
      name: customer.name,
      email: customer.email,
      tier: customer.tier,
      status: customer.status,
      limits: customer.limits,
      currentPeriod: customer.currentPeriod,
      webhookUrl: customer.webhookUrl,
      key: { id: consumer.key.id, prefix: consumer.key.prefix, mode: consumer.key.mode },
    };
  }

  @Get('keys')
  @ApiOperation({ summary: 'Your keys, newest first (limit + cursor pagination)' })
  @ApiOkResponse({ type: ApiKeyPageDto })
  keys(@CurrentConsumer() consumer: Consumer, @Query() query: ListApiKeysQuery) {
    return this.apiKeys.list(consumer.customerId, query);
  }

  @Post('keys')
  @ApiOperation({
    summary: "Create a key for your account, with at most your key's scopes and expiry. Its secret is in this response only.",
    description: 'It may carry controls of its own (not metadata, which is the operator\'s); it inherits every control the operator set on your key.',
  })
  @ApiCreatedResponse({ type: IssuedKeyDto, description: 'The key and its secret (shown once)' })
  @ApiErrors({ 403: ['scope_not_held', 'expiry_not_held', 'control_locked', 'rate_limit_not_held'], 409: ['key_limit_reached'] })
  create(@CurrentConsumer() consumer: Consumer, @Body() body: CreateApiKeyDto) {
    return this.apiKeys.create(consumer.customerId, body, holderGrantor(consumer.key));
  }

  @Patch('keys/:keyId')
  @ApiOperation({
    summary: 'Rename one of your keys and/or change its controls (a field of controls left out stays, null removes it)',
    description: "Controls the operator set are locked (403 control_locked), metadata is the operator's; a key's own rate limit cannot be looser than your account's (403 rate_limit_not_held).",
  })
  @ApiOkResponse({ type: ApiKeyDto, description: 'The updated key' })
  @ApiErrors({ 403: ['control_locked', 'rate_limit_not_held'], 404: ['api_key_not_found'] })
  update(@CurrentConsumer() consumer: Consumer, @Param('keyId') keyId: string, @Body() body: UpdateApiKeyDto) {
    return this.apiKeys.update(consumer.customerId, keyId, requireChange(body), holderGrantor(consumer.key));
  }

  @Post('keys/:keyId/rotate')
  @ApiOperation({ summary: 'A new secret for one of your keys (only a key whose scopes and expiry yours covers)' })
  @ApiCreatedResponse({ type: IssuedKeyDto, description: 'The replacement key and its secret (shown once)' })
  @ApiErrors({ 400: ['key_revoked', 'key_expired'], 403: ['scope_not_held', 'expiry_not_held'], 404: ['api_key_not_found'], 409: ['key_already_rotated'] })
  rotate(@CurrentConsumer() consumer: Consumer, @Param('keyId') keyId: string, @Body() body: RotateApiKeyDto) {
    return this.apiKeys.rotate(consumer.customerId, keyId, body.gracePeriodSeconds, holderGrantor(consumer.key));
  }

  @Delete('keys/:keyId')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke one of your keys' })
  @ApiOkResponse({ type: ApiKeyDto, description: 'The revoked key' })
  @ApiErrors({ 404: ['api_key_not_found'] })
  revoke(@CurrentConsumer() consumer: Consumer, @Param('keyId') keyId: string) {
    return this.apiKeys.revoke(consumer.customerId, keyId);
  }
}
