import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsEmail, IsIn, IsInt, IsString, Length, Matches, Max, Min, ValidateIf, ValidateNested } from 'class-validator';
import { KeyControlsInputDto, SCOPE_MESSAGE, SCOPE_PATTERN } from '../admin/index.js';
import { IsOmittable } from '../common/index.js';

export class KeySignInDto {
  @IsString()
  @Length(1, 200)
  apiKey: string;
}

export class EmailLinkRequestDto {
  @IsEmail({}, { message: 'email must be an email address' })
  @Length(3, 320)
  email: string;
}

export class EmailLinkSignInDto {
  @IsString()
  @Length(1, 200)
  token: string;
}

export class PortalCreateKeyDto {
  @IsOmittable()
  @IsString()
  @Length(1, 100, { message: 'name must be 1 to 100 characters' })
  name?: string;

  @IsOmittable()
  @IsIn(['live', 'test'])
  mode?: 'live' | 'test';

  /** At most the scopes of the key the session was opened with (none for an email-link session). */
  @IsOmittable()
  @IsArray()
  @ArrayMaxSize(20)
  @Matches(SCOPE_PATTERN, { each: true, message: SCOPE_MESSAGE })
  scopes?: string[];

  /** The key's own controls, under the key holder's rules (as `POST /v1/me/keys`: no metadata, a rate limit within the account's). */
  @IsOmittable()
  @ValidateNested()
  @Type(() => KeyControlsInputDto)
  controls?: KeyControlsInputDto;
}

export class PortalRotateKeyDto {
  @IsOmittable()
  @IsInt()
  @Min(0)
  @Max(7 * 86400)
  gracePeriodSeconds?: number;
}

export class WebhookUrlDto {
  /** null (or "") removes the webhook. */
  @ValidateIf((dto: WebhookUrlDto) => dto.url !== null && dto.url !== '')
  @IsString()
  url: string | null;
}

export class UpgradeDto {
  @IsString()
  @Length(1, 100)
  tier: string;
}
