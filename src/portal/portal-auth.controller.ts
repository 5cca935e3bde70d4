import { BadRequestException, Body, Controller, Get, HttpCode, Inject, Logger, Post, Req, Res, UnauthorizedException, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { clearedSessionCookie, sessionCookie } from './portal-cookies.js';
import { PortalMailer } from './portal-mailer.js';
import { PortalRateLimitGuard, PortalSignInRateLimitGuard } from './portal-rate-limit.guards.js';
import { assertSignInRequest, CurrentPortalSession, isSecureRequest, PortalSessionGuard, sessionToken } from './portal-session.guard.js';
import { type OpenedSession, type PortalSession, PortalSessionsService } from './portal-sessions.service.js';
import { EmailLinkRequestDto, EmailLinkSignInDto, KeySignInDto } from './portal.dto.js';

/** Where emailed links point. Never derived from the request's Host header (a forged one would aim a real token at another site). */
export function emailLinkBase(config: TollgateConfig): string {
  return (config.publicUrl ?? `http://localhost:${config.port}`).replace(/\/+$/, '');
}

const LINK_SENT = {
  sent: true,
  message: 'If an account uses that address, a sign-in link is on its way. It works once, within 15 minutes.',
};

/** Signing in and out of the developer portal. */
@ApiExcludeController()
@Public()
@Controller('portal/api')
export class PortalAuthController {
  private readonly logger = new Logger('Portal');

  constructor(
    @Inject(PortalSessionsService) private readonly sessions: PortalSessionsService,
    @Inject(PortalMailer) private readonly mailer: PortalMailer,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  @Post('login')
  @UseGuards(PortalSignInRateLimitGuard)
  @HttpCode(200)
  async signInWithKey(@Req() request: Request, @Res({ passthrough: true }) response: Response, @Body() body: KeySignInDto) {
    assertSignInRequest(request, this.config);
    const opened = await this.sessions.signInWithKey(body.apiKey);
    if (!opened) {
      throw new UnauthorizedException({
        error: 'invalid_api_key',
        message: 'That API key does not work: it is unknown, revoked or expired, or its account is suspended.',
      });
    }
    return this.start(request, response, opened);
  }

  /** Answers the same whether or not the address has an account (no enumeration); the work happens afterwards. */
  @Post('login/email')
  @UseGuards(PortalSignInRateLimitGuard)
  @HttpCode(202)
  requestEmailLink(@Req() request: Request, @Body() body: EmailLinkRequestDto) {
    assertSignInRequest(request, this.config);
    void this.sendLinks(body.email).catch((error: unknown) => this.logger.error(`could not send a portal sign-in link: ${(error as Error).message}`));
    return LINK_SENT;
  }

  @Post('login/email/complete')
  @UseGuards(PortalSignInRateLimitGuard)
  @HttpCode(200)
  async signInWithEmailLink(@Req() request: Request, @Res({ passthrough: true }) response: Response, @Body() body: EmailLinkSignInDto) {
    assertSignInRequest(request, this.config);
    const opened = await this.sessions.redeemLoginLink(body.token);
    if (!opened) {
      throw new BadRequestException({ error: 'invalid_sign_in_link', message: 'This sign-in link is invalid, expired or already used. Ask for a new one.' });
    }
    return this.start(request, response, opened);
  }

  @Get('session')
  @UseGuards(PortalSessionGuard, PortalRateLimitGuard)
  session(@CurrentPortalSession() session: PortalSession) {
    return sessionView(session);
  }

  @Post('logout')
  @HttpCode(204)
  @UseGuards(PortalSessionGuard, PortalRateLimitGuard)
  async signOut(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<void> {
    const token = sessionToken(request);
    if (token) await this.sessions.close(token);
    response.setHeader('Set-Cookie', clearedSessionCookie({ secure: isSecureRequest(request, this.config) }));
  }

  private async start(request: Request, response: Response, opened: OpenedSession) {
    // A new sign-in replaces the browser's previous session rather than leaving it alive behind a lost cookie.
    const previous = sessionToken(request);
    if (previous) await this.sessions.close(previous);
    const maxAgeSeconds = (opened.session.expiresAt.getTime() - Date.now()) / 1000;
    response.setHeader('Set-Cookie', sessionCookie(opened.token, { secure: isSecureRequest(request, this.config), maxAgeSeconds }));
    return sessionView(opened.session);
  }

  private async sendLinks(email: string): Promise<void> {
    const base = emailLinkBase(this.config);
    for (const { customer, token } of await this.sessions.issueLoginLinks(email)) {
      // The token travels in the fragment: browsers never send it to a server, so no access log or Referer holds it.
      await this.mailer.sendSignInLink(customer.email ?? email, customer.name, `${base}/portal/#login-token=${token}`);
    }
  }
}

export function sessionView(session: PortalSession) {
  return {
    customerId: session.customerId,
    signedInWith: session.method,
    apiKeyId: session.apiKeyId,
    csrfToken: session.csrfToken,
    expiresAt: session.expiresAt.toISOString(),
  };
}
