import { Body, Controller, Get, HttpCode, Inject, Post, Req, Res, UnauthorizedException, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../common/index.js';
import { TollgateConfig } from '../config/index.js';
import { consoleCookie } from './console-cookies.js';
import { ConsoleSignInRateLimitGuard } from './console-rate-limit.guard.js';
import { assertConsoleSignIn, ConsoleSessionGuard, consoleSessionToken, isSecureRequest } from './console-session.guard.js';
import { ConsoleSessionsService } from './console-sessions.service.js';
import { ConsoleSignInDto } from './console.dto.js';

/** Signing in to the operator console with the admin token, which is exchanged for a cookie and never kept by the page. */
@ApiExcludeController()
@Public()
@Controller('console/api')
export class ConsoleAuthController {
  constructor(
    @Inject(ConsoleSessionsService) private readonly sessions: ConsoleSessionsService,
    @Inject(TollgateConfig) private readonly config: TollgateConfig,
  ) {}

  @Post('login')
  @UseGuards(ConsoleSignInRateLimitGuard)
  @HttpCode(200)
  async signIn(@Req() request: Request, @Res({ passthrough: true }) response: Response, @Body() body: ConsoleSignInDto) {
    assertConsoleSignIn(request, this.config);
    const opened = await this.sessions.signIn(body.token);
    if (!opened) throw new UnauthorizedException({ error: 'invalid_admin_token', message: 'That is not the admin token of this service.' });
    const previous = consoleSessionToken(request);
    if (previous) await this.sessions.close(previous);
    const maxAgeSeconds = (opened.session.expiresAt.getTime() - Date.now()) / 1000;
    response.setHeader('Set-Cookie', consoleCookie(opened.token, { secure: isSecureRequest(request, this.config), maxAgeSeconds }));
    return { csrfToken: opened.session.csrfToken, expiresAt: opened.session.expiresAt.toISOString() };
  }

  @Get('session')
  @UseGuards(ConsoleSessionGuard)
  async session(@Req() request: Request) {
    const session = await this.sessions.find(consoleSessionToken(request) ?? '');
    return { csrfToken: session?.csrfToken, expiresAt: session?.expiresAt.toISOString() };
  }

  @Post('logout')
  @HttpCode(204)
  @UseGuards(ConsoleSessionGuard)
  async signOut(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<void> {
    const token = consoleSessionToken(request);
    if (token) await this.sessions.close(token);
    response.setHeader('Set-Cookie', consoleCookie('', { secure: isSecureRequest(request, this.config), maxAgeSeconds: 0 }));
  }
}
